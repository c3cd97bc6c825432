-- Monitoring: alert rules, alerts (one open alert per rule and device), the last time each
-- device reported (for offline alerts) and an index that keeps time-window queries bounded.

-- Threshold rules on one datapoint. `source` is 'profile' for defaults copied from the
-- device profile (one per datapoint and direction) and 'user' for rules made through the API.
CREATE TABLE IF NOT EXISTS alert_rules (
	id              serial PRIMARY KEY,
	datapoint_id    integer NOT NULL REFERENCES datapoints(id) ON DELETE CASCADE,
	direction       text NOT NULL CHECK (direction IN ('above', 'below')),
	threshold       double precision NOT NULL,
	hysteresis      double precision NOT NULL DEFAULT 0 CHECK (hysteresis >= 0),
	min_duration_s  double precision NOT NULL DEFAULT 0 CHECK (min_duration_s >= 0),
	severity        text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
	enabled         boolean NOT NULL DEFAULT true,
	source          text NOT NULL DEFAULT 'user' CHECK (source IN ('user', 'profile')),
	created_by      text,
	created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_rules_datapoint ON alert_rules (datapoint_id);
-- Profile defaults are seeded once per datapoint and direction, however many nodes race.
CREATE UNIQUE INDEX IF NOT EXISTS alert_rules_profile_once ON alert_rules (datapoint_id, direction) WHERE source = 'profile';

-- Raised alerts. kind 'threshold' (rule_id set) or 'offline' (rule_id null).
CREATE TABLE IF NOT EXISTS alerts (
	id               bigserial PRIMARY KEY,
	kind             text NOT NULL CHECK (kind IN ('threshold', 'offline')),
	rule_id          integer REFERENCES alert_rules(id) ON DELETE SET NULL,
	device_id        integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	datapoint_id     integer REFERENCES datapoints(id) ON DELETE SET NULL,
	severity         text NOT NULL,
	message          text NOT NULL,
	value            double precision,
	raised_at        timestamptz NOT NULL,
	cleared_at       timestamptz,
	acknowledged_at  timestamptz,
	acknowledged_by  text
);
-- Deduplication lives in the database: at most one open alert per rule (or offline) and
-- device, even with several monitoring instances inserting at the same moment.
-- (An alert whose rule was deleted keeps its history with rule_id null and leaves the index.)
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (device_id, kind, coalesce(rule_id, 0))
	WHERE cleared_at IS NULL AND (kind = 'offline' OR rule_id IS NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts (raised_at DESC);

-- When each device last reported, and how often it is expected to (null: the node default).
CREATE TABLE IF NOT EXISTS monitoring_devices (
	device_id            integer PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
	last_seen            timestamptz NOT NULL,
	expected_interval_s  double precision
);
