-- Pipeline (issue 5): the storage layout of decoded_data (the table itself is in 001_core.sql).
--
-- Where the timescaledb extension is installed AND preloaded, decoded_data becomes a
-- hypertable (1-day chunks) with native compression segmented by device_id, compressed after
-- 7 days. The retention policy comes from configuration (DATA_RETENTION_DAYS) and is applied
-- by the pipeline service at start, since a migration cannot read the environment.
-- Everywhere else (plain PostgreSQL, PGlite) it stays a plain table with a BRIN index on
-- time: tiny, and good for the append-mostly, time-ordered inserts of telemetry.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
		AND current_setting('shared_preload_libraries', true) LIKE '%timescaledb%' THEN
		CREATE EXTENSION IF NOT EXISTS timescaledb;
		PERFORM create_hypertable('decoded_data', 'timestamp',
			chunk_time_interval => interval '1 day', if_not_exists => true, migrate_data => true);
		EXECUTE 'ALTER TABLE decoded_data SET (timescaledb.compress, '
			|| 'timescaledb.compress_segmentby = ''device_id'', '
			|| 'timescaledb.compress_orderby = ''datapoint_id, timestamp DESC'')';
		PERFORM add_compression_policy('decoded_data', interval '7 days', if_not_exists => true);
	ELSE
		CREATE INDEX IF NOT EXISTS decoded_data_time_brin ON decoded_data USING brin (timestamp);
	END IF;
END
$$;

-- Dead letters of the pipeline keep a replay history: how often it was tried, and why the
-- last replay failed (the row stays open until a replay succeeds).
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_count integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_error text;
CREATE INDEX IF NOT EXISTS dead_letters_source_open ON dead_letters (source, id) WHERE replayed_at IS NULL;
