-- Per-minute rollup of decoded_data: per device, datapoint and minute the row count, the
-- count of non-null values, their sum, min and max, and the newest timestamp. Statistics over
-- long windows read whole minutes from here and only the partial minutes at the window's edges
-- from decoded_data, so a 24-hour or 7-day chart of a device reading every second reads about
-- 60 times fewer rows (docs/monitoring.md, "Statistics").
--
-- Kept exact by statement-level triggers with transition tables, inside the transaction that
-- writes the raw rows, whoever writes them (the pipeline sink's COPY, the decoder's
-- dead-letter replay, SQL by hand):
--   * INSERT: the transition table holds only the rows actually inserted, so a redelivered
--     batch that ON CONFLICT DO NOTHING skips adds nothing (no double counting on replay);
--     late data lands in its own (old) minute;
--   * DELETE / UPDATE: the touched minutes are recomputed from the raw rows;
--   * TRUNCATE: the rollup is emptied too.
-- Minutes are aligned to the Unix epoch with date_bin, like the stats buckets, whatever the
-- session time zone.
CREATE TABLE IF NOT EXISTS decoded_data_1m (
	device_id     integer NOT NULL,
	datapoint_id  integer NOT NULL,
	minute        timestamptz NOT NULL,
	count         integer NOT NULL,
	value_count   integer NOT NULL,
	sum           double precision,
	min           double precision,
	max           double precision,
	last_at       timestamptz NOT NULL,
	PRIMARY KEY (device_id, datapoint_id, minute)
) WITH (fillfactor = 70);
-- The current minute of a series is updated once per sink batch: room on the page keeps those
-- updates HOT (no index write). Whole-fleet windows use the BRIN index on minute.
CREATE INDEX IF NOT EXISTS decoded_data_1m_minute_brin ON decoded_data_1m USING brin (minute);

CREATE OR REPLACE FUNCTION decoded_data_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO decoded_data_1m AS r (device_id, datapoint_id, minute, count, value_count, sum, min, max, last_at)
	SELECT a.device_id, a.datapoint_id, date_bin('1 minute', a.timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00'),
		count(*), count(a.value), sum(a.value), min(a.value), max(a.value), max(a.timestamp)
	FROM added a
	GROUP BY 1, 2, 3
	-- One lock order for every writer: two sink transactions on the same minutes wait, never deadlock.
	ORDER BY 1, 2, 3
	ON CONFLICT (device_id, datapoint_id, minute) DO UPDATE SET
		count = r.count + excluded.count,
		value_count = r.value_count + excluded.value_count,
		sum = coalesce(r.sum + excluded.sum, r.sum, excluded.sum),
		min = least(r.min, excluded.min),
		max = greatest(r.max, excluded.max),
		last_at = greatest(r.last_at, excluded.last_at);
	RETURN NULL;
END
$$;

-- The minutes given by (device_id, datapoint_id, minute) in the temp table `rollup_keys`,
-- recomputed from decoded_data (rare: deletes and updates of telemetry).
CREATE OR REPLACE FUNCTION decoded_data_rollup_recompute_keys() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM decoded_data_1m r USING rollup_keys k
	WHERE r.device_id = k.device_id AND r.datapoint_id = k.datapoint_id AND r.minute = k.minute;
	INSERT INTO decoded_data_1m (device_id, datapoint_id, minute, count, value_count, sum, min, max, last_at)
	SELECT k.device_id, k.datapoint_id, k.minute, count(*), count(d.value), sum(d.value), min(d.value), max(d.value),
		max(d.timestamp)
	FROM rollup_keys k
	JOIN decoded_data d ON d.device_id = k.device_id AND d.datapoint_id = k.datapoint_id
		AND d.timestamp >= k.minute AND d.timestamp < k.minute + interval '1 minute'
	GROUP BY 1, 2, 3
	ORDER BY 1, 2, 3;
	DROP TABLE rollup_keys;
END
$$;

CREATE OR REPLACE FUNCTION decoded_data_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	CREATE TEMP TABLE rollup_keys ON COMMIT DROP AS
		SELECT DISTINCT device_id, datapoint_id, date_bin('1 minute', timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS minute
		FROM removed;
	PERFORM decoded_data_rollup_recompute_keys();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION decoded_data_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	CREATE TEMP TABLE rollup_keys ON COMMIT DROP AS
		SELECT device_id, datapoint_id, date_bin('1 minute', timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS minute
		FROM removed
		UNION
		SELECT device_id, datapoint_id, date_bin('1 minute', timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00')
		FROM added;
	PERFORM decoded_data_rollup_recompute_keys();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION decoded_data_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE decoded_data_1m;
	RETURN NULL;
END
$$;

DO $$
BEGIN
	-- A TimescaleDB hypertable cannot have triggers with transition tables: there the stats stay
	-- on the raw rows (time_bucket over compressed chunks). The monitoring service uses the rollup
	-- only where the insert trigger exists. A continuous aggregate would be TimescaleDB's
	-- equivalent; it is not written here (no TimescaleDB on the machine this was built on).
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
		RAISE NOTICE 'decoded_data_1m: TimescaleDB present, the rollup triggers are not created';
		RETURN;
	END IF;
	-- The trigger first: CREATE TRIGGER waits for writers in flight and blocks new ones until this
	-- migration commits, so the backfill below sees every row written before, the trigger every row after.
	CREATE OR REPLACE TRIGGER decoded_data_rollup_insert AFTER INSERT ON decoded_data
		REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION decoded_data_rollup_insert();
	CREATE OR REPLACE TRIGGER decoded_data_rollup_delete AFTER DELETE ON decoded_data
		REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION decoded_data_rollup_delete();
	CREATE OR REPLACE TRIGGER decoded_data_rollup_update AFTER UPDATE ON decoded_data
		REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION decoded_data_rollup_update();
	CREATE OR REPLACE TRIGGER decoded_data_rollup_truncate AFTER TRUNCATE ON decoded_data
		FOR EACH STATEMENT EXECUTE FUNCTION decoded_data_rollup_truncate();
	INSERT INTO decoded_data_1m (device_id, datapoint_id, minute, count, value_count, sum, min, max, last_at)
	SELECT device_id, datapoint_id, date_bin('1 minute', timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00'),
		count(*), count(value), sum(value), min(value), max(value), max(timestamp)
	FROM decoded_data
	GROUP BY 1, 2, 3
	ON CONFLICT DO NOTHING;
END
$$;
