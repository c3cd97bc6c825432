-- Builds (the ASU-compatible firmware build service): one row per counted event, as
-- upstream's Redis time series count them (stats:build:*, stats:clients:*, stats:builds:*,
-- stats:time:*), and the packages users add, for the statistics views and the dashboard.

-- event: 'requests' | 'cache-hits' | 'cache-misses' | 'successes' | 'failures'.
-- Successes and failures carry the build (version, target, profile, duration, images or error).
CREATE TABLE IF NOT EXISTS build_events (
	id            bigserial PRIMARY KEY,
	at            timestamptz NOT NULL DEFAULT now(),
	event         text NOT NULL CHECK (event IN ('requests', 'cache-hits', 'cache-misses', 'successes', 'failures')),
	request_hash  text,
	client        text,
	version       text,
	target        text,
	profile       text,
	duration_ms   integer,
	images        jsonb,
	error         text
);
CREATE INDEX IF NOT EXISTS build_events_at ON build_events (at);
CREATE INDEX IF NOT EXISTS build_events_event_at ON build_events (event, at);

-- Non-default packages requested in successful and failed builds (upstream stats:packages:<branch>:<pkg>).
CREATE TABLE IF NOT EXISTS build_packages (
	at       timestamptz NOT NULL DEFAULT now(),
	branch   text NOT NULL,
	package  text NOT NULL
);
CREATE INDEX IF NOT EXISTS build_packages_branch_at ON build_packages (branch, at);
