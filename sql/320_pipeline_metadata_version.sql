-- Pipeline (issue 5): the decoder caches each controller's metadata (Moleculer cacher). Any
-- change that matters to decoding, by whichever service or by hand, advances this sequence;
-- the decoder reads it once per batch and drops its cache when it moved. A sequence, not a
-- counter row: no lock, no contention with the manager's device updates.
CREATE SEQUENCE IF NOT EXISTS pipeline_metadata_seq;

CREATE OR REPLACE FUNCTION pipeline_metadata_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM nextval('pipeline_metadata_seq');
	RETURN NULL;
END
$$;

-- Only what decoding depends on: a device's status updates do not invalidate anything.
CREATE OR REPLACE TRIGGER pipeline_metadata_devices
	AFTER INSERT OR DELETE OR UPDATE OF mac ON devices
	FOR EACH STATEMENT EXECUTE FUNCTION pipeline_metadata_changed();
CREATE OR REPLACE TRIGGER pipeline_metadata_datapoints
	AFTER INSERT OR DELETE OR UPDATE OF label, device_id, decoding ON datapoints
	FOR EACH STATEMENT EXECUTE FUNCTION pipeline_metadata_changed();
CREATE OR REPLACE TRIGGER pipeline_metadata_sensors
	AFTER INSERT OR DELETE OR UPDATE ON pipeline_sensors
	FOR EACH STATEMENT EXECUTE FUNCTION pipeline_metadata_changed();
