-- Automation: rules, schedules, the command outbox, durable timers and run history.
-- Every state change is a conditional update on these rows, so any number of automation
-- instances (and redelivered readings) give one run per crossing and per occurrence.

CREATE TABLE IF NOT EXISTS automation_rules (
	id                serial PRIMARY KEY,
	name              text NOT NULL,
	enabled           boolean NOT NULL DEFAULT true,
	mode              text NOT NULL DEFAULT 'single',
	trigger           jsonb NOT NULL,
	conditions        jsonb NOT NULL DEFAULT '[]'::jsonb,
	actions           jsonb NOT NULL,
	max_runs_per_hour integer NOT NULL DEFAULT 60,
	disabled_reason   text,
	-- consecutive suppressed runs (loop guard): 3 in a row disable the rule
	suppressed_streak integer NOT NULL DEFAULT 0,
	-- every device the rule references: visibility for non-admins
	device_ids        integer[] NOT NULL DEFAULT '{}',
	created_by        text,
	created_at        timestamptz NOT NULL DEFAULT now(),
	updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Edge-trigger memory per (rule, trigger device). `version` makes every change a
-- compare-and-set; `last_ts` drops redelivered or out-of-order readings.
CREATE TABLE IF NOT EXISTS automation_rule_state (
	rule_id        integer NOT NULL REFERENCES automation_rules(id) ON DELETE CASCADE,
	device_id      integer NOT NULL,
	armed          boolean NOT NULL DEFAULT true,
	pending_since  timestamptz,
	pending_value  double precision,
	last_fired_at  timestamptz,
	last_ts        timestamptz,
	version        bigint NOT NULL DEFAULT 0,
	updated_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (rule_id, device_id)
);

CREATE TABLE IF NOT EXISTS automation_schedules (
	id           serial PRIMARY KEY,
	name         text NOT NULL,
	enabled      boolean NOT NULL DEFAULT true,
	cron         text,
	interval_ms  bigint,
	timezone     text NOT NULL DEFAULT 'UTC',
	start_at     timestamptz,
	end_at       timestamptz,
	misfire      text NOT NULL DEFAULT 'run_once',
	mode         text NOT NULL DEFAULT 'single',
	actions      jsonb NOT NULL,
	-- the next occurrence; claimed by compare-and-set
	next_run_at  timestamptz,
	last_run_at  timestamptz,
	device_ids   integer[] NOT NULL DEFAULT '{}',
	created_by   text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS automation_schedules_due ON automation_schedules (next_run_at) WHERE enabled;

-- History: one row per run of a rule, a schedule or a manual command.
CREATE TABLE IF NOT EXISTS automation_runs (
	id             bigserial PRIMARY KEY,
	source         text NOT NULL,
	rule_id        integer,
	schedule_id    integer,
	device_id      integer,
	status         text NOT NULL,
	scheduled_for  timestamptz,
	misfired       boolean NOT NULL DEFAULT false,
	-- rules: the reading time the crossing started (with rule and device: one run per crossing)
	pending_since  timestamptz,
	started_at     timestamptz NOT NULL DEFAULT now(),
	finished_at    timestamptz,
	trigger        jsonb,
	conditions     jsonb NOT NULL DEFAULT '[]'::jsonb,
	actions        jsonb NOT NULL DEFAULT '[]'::jsonb,
	next_action    integer NOT NULL DEFAULT 0,
	trace          jsonb NOT NULL DEFAULT '[]'::jsonb,
	caused_by      jsonb,
	-- rule ids of the chain that led here (loop guard)
	chain          integer[] NOT NULL DEFAULT '{}',
	device_ids     integer[] NOT NULL DEFAULT '{}',
	created_by     text
);
CREATE UNIQUE INDEX IF NOT EXISTS automation_runs_crossing ON automation_runs (rule_id, device_id, pending_since) WHERE source = 'rule';
CREATE UNIQUE INDEX IF NOT EXISTS automation_runs_occurrence ON automation_runs (schedule_id, scheduled_for) WHERE source = 'schedule';
CREATE INDEX IF NOT EXISTS automation_runs_rule ON automation_runs (rule_id, started_at DESC);
CREATE INDEX IF NOT EXISTS automation_runs_started ON automation_runs (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS automation_runs_active ON automation_runs (status) WHERE status IN ('running', 'waiting');

-- Outbox and control history.
CREATE TABLE IF NOT EXISTS automation_commands (
	id               bigserial PRIMARY KEY,
	device_id        integer NOT NULL,
	action           text NOT NULL,
	params           jsonb NOT NULL DEFAULT '{}'::jsonb,
	status           text NOT NULL DEFAULT 'queued',
	caller           text NOT NULL,
	idempotency_key  text,
	body_hash        text,
	ttl_ms           bigint NOT NULL,
	expires_at       timestamptz NOT NULL,
	attempts         integer NOT NULL DEFAULT 0,
	last_attempt_at  timestamptz,
	next_attempt_at  timestamptz NOT NULL DEFAULT now(),
	-- while `sending`: when the attempt is considered lost
	lease_until      timestamptz,
	node_id          text,
	error            jsonb,
	run_id           bigint,
	source           text NOT NULL,
	created_by       text,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	finished_at      timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS automation_commands_idem ON automation_commands (caller, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS automation_commands_open ON automation_commands (device_id, id) WHERE status IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS automation_commands_run ON automation_commands (run_id);

-- Durable timers: `for` waits, delays and pending runs; claimed with a lease.
CREATE TABLE IF NOT EXISTS automation_timers (
	id           bigserial PRIMARY KEY,
	kind         text NOT NULL,
	key          text NOT NULL UNIQUE,
	rule_id      integer,
	device_id    integer,
	run_id       bigint,
	due_at       timestamptz NOT NULL,
	data         jsonb NOT NULL DEFAULT '{}'::jsonb,
	lease_owner  text,
	lease_until  timestamptz
);
CREATE INDEX IF NOT EXISTS automation_timers_due ON automation_timers (due_at);

CREATE TABLE IF NOT EXISTS automation_device_state (
	device_id        integer PRIMARY KEY,
	desired          jsonb NOT NULL DEFAULT '{}'::jsonb,
	last_command_id  bigint,
	updated_at       timestamptz NOT NULL DEFAULT now()
);
