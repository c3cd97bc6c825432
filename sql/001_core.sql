-- Core schema shared by every service: the device registry, datapoints, device events,
-- the telemetry table and the dead-letter store. Later migrations extend these tables
-- (ALTER TABLE … ADD COLUMN IF NOT EXISTS) rather than redefine them.

-- Devices: USB/I2C devices found by the detector and MQTT field controllers alike.
-- `uid` is the stable identity (serial number, or USB port path + VID:PID, or MAC) so a
-- re-plugged device keeps its integer id.
CREATE TABLE IF NOT EXISTS devices (
	id          serial PRIMARY KEY,
	uid         text UNIQUE,
	name        text NOT NULL,
	type        text NOT NULL DEFAULT 'unidentified',
	profile     text,
	config      jsonb NOT NULL DEFAULT '{}'::jsonb,
	status      text NOT NULL DEFAULT 'detected',
	owner       text,
	node_id     text,
	path        text,
	subsystem   text,
	vid         text,
	pid         text,
	serial      text,
	mac         text UNIQUE,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What a device measures: label → integer id (the id stored in decoded_data).
CREATE TABLE IF NOT EXISTS datapoints (
	id          serial PRIMARY KEY,
	device_id   integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	label       text NOT NULL,
	unit        text,
	-- How to decode it (byte offset, type, scale for MQTT frames; a profile key for serial).
	decoding    jsonb NOT NULL DEFAULT '{}'::jsonb,
	created_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (device_id, label)
);

-- Lifecycle history of each device (status transitions, user-posted events).
CREATE TABLE IF NOT EXISTS device_events (
	id          bigserial PRIMARY KEY,
	device_id   integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	type        text NOT NULL,
	status      text,
	reason      text,
	data        jsonb NOT NULL DEFAULT '{}'::jsonb,
	node_id     text,
	at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS device_events_device_at ON device_events (device_id, at DESC);

-- All telemetry in one narrow table. The primary key makes every sink idempotent under
-- redelivery (ON CONFLICT DO NOTHING). A TimescaleDB hypertable where the extension exists
-- (a later migration), a plain table with a BRIN index on time otherwise.
CREATE TABLE IF NOT EXISTS decoded_data (
	timestamp     timestamptz NOT NULL,
	device_id     integer NOT NULL,
	datapoint_id  integer NOT NULL,
	value         double precision,
	PRIMARY KEY (timestamp, device_id, datapoint_id)
);
CREATE INDEX IF NOT EXISTS decoded_data_device_dp_time ON decoded_data (device_id, datapoint_id, timestamp DESC);

-- Messages that could not be processed, with the reason, kept for inspection and replay.
CREATE TABLE IF NOT EXISTS dead_letters (
	id           bigserial PRIMARY KEY,
	source       text NOT NULL,
	reason       text NOT NULL,
	topic        text,
	payload      text,
	data         jsonb NOT NULL DEFAULT '{}'::jsonb,
	created_at   timestamptz NOT NULL DEFAULT now(),
	replayed_at  timestamptz
);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (created_at) WHERE replayed_at IS NULL;
