/**
 * Database side of monitoring: rules, alerts and last-seen times. Functions take any `Sql`
 * (pool, transaction, PGlite) so they run the same on PostgreSQL and PGlite.
 */
import type { Sql } from "../../mixins/db.mixin";
import type { Direction, ProfileAlertDefault, Severity, ThresholdRule } from "./alerts";
import { ownerCondition } from "../../mixins/authorization";
import { NODE_STOPPED } from "../shared/contracts/devices";
import { asCaller, type Viewer } from "./queries";
import type { NewAlert } from "./engine";

export interface RuleRow {
	id: number;
	datapoint_id: number;
	direction: Direction;
	threshold: number;
	hysteresis: number;
	min_duration_s: number;
	severity: Severity;
	enabled: boolean;
	source: "user" | "profile";
	created_by: string | null;
	device_id: number;
	label: string;
	unit: string | null;
}

export function toRule(r: RuleRow): ThresholdRule {
	return {
		id: Number(r.id),
		datapointId: Number(r.datapoint_id),
		direction: r.direction,
		threshold: Number(r.threshold),
		hysteresis: Number(r.hysteresis),
		minDurationMs: Number(r.min_duration_s) * 1000,
		severity: r.severity,
		enabled: !!r.enabled
	};
}

export function ruleToApi(r: RuleRow) {
	return {
		id: Number(r.id),
		deviceId: Number(r.device_id),
		datapointId: Number(r.datapoint_id),
		datapoint: r.label,
		unit: r.unit,
		direction: r.direction,
		threshold: Number(r.threshold),
		hysteresis: Number(r.hysteresis),
		minDurationS: Number(r.min_duration_s),
		severity: r.severity,
		enabled: !!r.enabled,
		source: r.source,
		createdBy: r.created_by
	};
}

const RULE_SELECT = `SELECT r.id, r.datapoint_id, r.direction, r.threshold, r.hysteresis, r.min_duration_s,
		r.severity, r.enabled,
		r.source, r.created_by, dp.device_id, dp.label, dp.unit
	FROM alert_rules r JOIN datapoints dp ON dp.id = r.datapoint_id`;

export async function loadRules(db: Sql, where = "", params: unknown[] = [], limit?: number): Promise<RuleRow[]> {
	return db.query<RuleRow>(
		`${RULE_SELECT} ${where} ORDER BY r.id${limit ? ` LIMIT ${Math.floor(limit)}` : ""}`,
		params
	);
}

export async function insertRule(
	db: Sql,
	r: {
		datapointId: number;
		direction: Direction;
		threshold: number;
		hysteresis: number;
		minDurationS: number;
		severity: Severity;
		enabled: boolean;
		createdBy: string | null;
	}
): Promise<RuleRow> {
	const [row] = await db.query<{ id: number }>(
		`INSERT INTO alert_rules (datapoint_id, direction, threshold, hysteresis, min_duration_s, severity, enabled,
		 source, created_by)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, 'user', $8) RETURNING id`,
		[r.datapointId, r.direction, r.threshold, r.hysteresis, r.minDurationS, r.severity, r.enabled, r.createdBy]
	);
	const [full] = await loadRules(db, "WHERE r.id = $1", [row.id]);
	return full;
}

export type RuleChanges = Partial<{
	direction: Direction;
	threshold: number;
	hysteresis: number;
	minDurationS: number;
	severity: Severity;
	enabled: boolean;
}>;

/** Changes the given fields of a rule (a profile rule stays a profile rule, so it is not seeded again). */
export async function updateRule(db: Sql, id: number, c: RuleChanges): Promise<RuleRow | null> {
	await db.query(
		`UPDATE alert_rules SET direction = COALESCE($2, direction), threshold = COALESCE($3, threshold),
		   hysteresis = COALESCE($4, hysteresis), min_duration_s = COALESCE($5, min_duration_s),
		   severity = COALESCE($6, severity), enabled = COALESCE($7, enabled)
		 WHERE id = $1`,
		[
			id,
			c.direction ?? null,
			c.threshold ?? null,
			c.hysteresis ?? null,
			c.minDurationS ?? null,
			c.severity ?? null,
			c.enabled ?? null
		]
	);
	const [full] = await loadRules(db, "WHERE r.id = $1", [id]);
	return full ?? null;
}

/** Profile defaults: inserted once per datapoint and direction (a unique index), however many nodes race. */
export async function insertProfileRules(
	db: Sql,
	datapointId: number,
	defaults: ProfileAlertDefault[]
): Promise<number> {
	let n = 0;
	for (const d of defaults) {
		const rows = await db.query(
			`INSERT INTO alert_rules (datapoint_id, direction, threshold, hysteresis, min_duration_s, severity, source)
			 VALUES ($1, $2, $3, $4, $5, $6, 'profile')
			 ON CONFLICT (datapoint_id, direction) WHERE source = 'profile' DO NOTHING RETURNING id`,
			[datapointId, d.direction, d.threshold, d.hysteresis, d.minDurationS, d.severity]
		);
		n += rows.length;
	}
	return n;
}

export interface AlertRow {
	id: number;
	kind: "threshold" | "offline";
	rule_id: number | null;
	device_id: number;
	device: string;
	datapoint_id: number | null;
	datapoint: string | null;
	unit: string | null;
	severity: string;
	message: string;
	value: number | null;
	raised_at: string;
	cleared_at: string | null;
	acknowledged_at: string | null;
	acknowledged_by: string | null;
	ack_comment: string | null;
}

const iso = (c: string) => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const ALERT_SELECT = `SELECT a.id, a.kind, a.rule_id, a.device_id, dev.name AS device, a.datapoint_id, dp.label AS
		datapoint, dp.unit,
		a.severity, a.message, a.value, ${iso("a.raised_at")} AS raised_at, ${iso("a.cleared_at")} AS cleared_at,
		${iso("a.acknowledged_at")} AS acknowledged_at, a.acknowledged_by, a.ack_comment
	FROM alerts a JOIN devices dev ON dev.id = a.device_id LEFT JOIN datapoints dp ON dp.id = a.datapoint_id`;

export function alertToApi(a: AlertRow) {
	return {
		id: Number(a.id),
		kind: a.kind,
		ruleId: a.rule_id == null ? null : Number(a.rule_id),
		deviceId: Number(a.device_id),
		device: a.device,
		datapointId: a.datapoint_id == null ? null : Number(a.datapoint_id),
		datapoint: a.datapoint,
		unit: a.unit,
		severity: a.severity,
		message: a.message,
		value: a.value == null ? null : Number(a.value),
		raisedAt: a.raised_at,
		clearedAt: a.cleared_at,
		acknowledgedAt: a.acknowledged_at,
		acknowledgedBy: a.acknowledged_by,
		ackComment: a.ack_comment ?? null,
		open: a.cleared_at == null
	};
}

export type ApiAlert = ReturnType<typeof alertToApi>;

export async function getAlert(db: Sql, id: number): Promise<(AlertRow & { owner: number | null }) | null> {
	const [row] = await db.query<AlertRow & { owner: number | null }>(
		ALERT_SELECT.replace("dev.name AS device,", "dev.name AS device, dev.owner,") + " WHERE a.id = $1",
		[id]
	);
	return row ?? null;
}

export interface AlertListFilter {
	status: "open" | "cleared" | "unacknowledged" | "all";
	deviceId?: number;
	severity?: string;
	limit: number;
	/** Only alerts with an id below this (paging newest first). */
	beforeId?: number;
	viewer?: Viewer;
}

export async function listAlerts(db: Sql, f: AlertListFilter): Promise<AlertRow[]> {
	const where: string[] = [];
	const params: unknown[] = [];
	const add = (v: unknown) => {
		params.push(v);
		return `$${params.length}`;
	};
	if (f.status === "open") where.push("a.cleared_at IS NULL");
	if (f.status === "cleared") where.push("a.cleared_at IS NOT NULL");
	if (f.status === "unacknowledged") where.push("a.acknowledged_at IS NULL");
	if (f.deviceId != null) where.push(`a.device_id = ${add(f.deviceId)}`);
	if (f.severity) where.push(`a.severity = ${add(f.severity)}`);
	if (f.beforeId != null) where.push(`a.id < ${add(f.beforeId)}`);
	const own = ownerCondition(asCaller(f.viewer), "dev.owner", add);
	if (own) where.push(own);
	return db.query<AlertRow>(
		`${ALERT_SELECT} ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY a.id DESC LIMIT ` +
			`${add(f.limit)}`,
		params
	);
}

/**
 * Raises an alert unless one is open for the same rule (or offline) and device: returns it, or null for a duplicate.
 */
export async function raiseAlert(db: Sql, a: NewAlert): Promise<AlertRow | null> {
	const rows = await db.query<{ id: number }>(
		`INSERT INTO alerts (kind, rule_id, device_id, datapoint_id, severity, message, value, raised_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		 ON CONFLICT (device_id, kind, (coalesce(rule_id, 0))) WHERE cleared_at IS NULL AND (kind = 'offline' OR
		 rule_id IS NOT NULL)
		 DO NOTHING RETURNING id`,
		[a.kind, a.ruleId, a.deviceId, a.datapointId, a.severity, a.message, a.value, a.at.toISOString()]
	);
	if (!rows.length) return null;
	return getAlert(db, Number(rows[0].id));
}

/** Clears the open alert of a rule (or the offline alert) of a device: returns it, or null when none was open. */
export async function clearAlert(
	db: Sql,
	kind: "threshold" | "offline",
	ruleId: number | null,
	deviceId: number,
	at: Date
): Promise<AlertRow | null> {
	const rows = await db.query<{ id: number }>(
		`UPDATE alerts SET cleared_at = greatest($4::timestamptz, raised_at)
		 WHERE device_id = $1 AND kind = $2 AND coalesce(rule_id, 0) = coalesce($3::int, 0) AND cleared_at IS NULL
		 RETURNING id`,
		[deviceId, kind, ruleId, at.toISOString()]
	);
	if (!rows.length) return null;
	return getAlert(db, Number(rows[0].id));
}

/** Acknowledges an alert, with an optional comment; acknowledging twice keeps the first acknowledgement. */
export async function acknowledgeAlert(
	db: Sql,
	id: number,
	by: string,
	comment: string | null = null
): Promise<{ row: AlertRow; changed: boolean } | null> {
	const rows = await db.query<{ id: number }>(
		"UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2, ack_comment = $3 WHERE id = $1 " +
			"AND acknowledged_at IS NULL RETURNING id",
		[id, by, comment]
	);
	const row = await getAlert(db, id);
	return row ? { row, changed: rows.length > 0 } : null;
}

/** Open threshold alerts as (rule, device) keys, and devices with an open offline alert. */
export async function loadOpenAlerts(
	db: Sql
): Promise<{ threshold: { ruleId: number; deviceId: number }[]; offline: number[] }> {
	const rows = await db.query<{ kind: string; rule_id: number | null; device_id: number }>(
		"SELECT kind, rule_id, device_id FROM alerts WHERE cleared_at IS NULL"
	);
	return {
		threshold: rows
			.filter(r => r.kind === "threshold" && r.rule_id != null)
			.map(r => ({ ruleId: Number(r.rule_id), deviceId: Number(r.device_id) })),
		offline: rows.filter(r => r.kind === "offline").map(r => Number(r.device_id))
	};
}

/** Records that devices reported now (the receive time: a device clock may be wrong). */
export async function touchDevices(db: Sql, deviceIds: number[]): Promise<void> {
	if (!deviceIds.length) return;
	await db.query(
		`INSERT INTO monitoring_devices (device_id, last_seen)
		 SELECT u.device_id, now() FROM unnest($1::int[]) AS u(device_id) WHERE EXISTS (SELECT 1 FROM devices d WHERE
		 d.id = u.device_id)
		 ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen`,
		[deviceIds]
	);
}

export interface SilenceRow {
	device_id: number;
	name: string;
	last_seen_ms: number;
	now_ms: number;
	interval_s: number;
}

/**
 * Devices silent for longer than the shortest interval any of them may have, without an open
 * offline alert. The expected interval: monitoring_devices.expected_interval_s, else the
 * device's config.expected_interval_s, else the node default.
 */
export async function silentDevices(db: Sql, defaultIntervalS: number): Promise<SilenceRow[]> {
	return db.query<SilenceRow>(
		`SELECT md.device_id, dev.name,
				(extract(epoch from md.last_seen) * 1000)::float8 AS last_seen_ms,
				(extract(epoch from now()) * 1000)::float8 AS now_ms,
				coalesce(md.expected_interval_s,
					CASE WHEN dev.config->>'expected_interval_s' ~ '^[0-9]+(\\.[0-9]+)?$' THEN
				(dev.config->>'expected_interval_s')::float8 END,
					$1::float8) AS interval_s
		 FROM monitoring_devices md JOIN devices dev ON dev.id = md.device_id
		 WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = md.device_id AND a.kind = 'offline' AND
				a.cleared_at IS NULL)
		   -- A device whose node was stopped on purpose is not "offline": nobody needs an alert for a planned stop.
		   AND NOT (dev.status = 'disconnected' AND dev.status_reason = $2)`,
		[defaultIntervalS, NODE_STOPPED]
	);
}

export interface DatapointMeta {
	id: number;
	deviceId: number;
	label: string;
	unit: string | null;
	decoding: unknown;
	device: string;
	profile: string | null;
	owner: number | null;
}

export async function loadDatapointMeta(db: Sql, ids: number[]): Promise<DatapointMeta[]> {
	if (!ids.length) return [];
	const rows = await db.query(
		`SELECT dp.id, dp.device_id, dp.label, dp.unit, dp.decoding, dev.name AS device, dev.profile, dev.owner
		 FROM datapoints dp JOIN devices dev ON dev.id = dp.device_id WHERE dp.id = ANY($1::int[])`,
		[ids]
	);
	return rows.map(r => ({
		id: Number(r.id),
		deviceId: Number(r.device_id),
		label: r.label,
		unit: r.unit,
		decoding: r.decoding,
		device: r.device,
		profile: r.profile,
		owner: r.owner
	}));
}

/**
 * Whether decoded_data keeps its per-minute rollup (decoded_data_1m, maintained by triggers;
 * not on a TimescaleDB hypertable, and not while the insert trigger is disabled): only then do
 * stats read whole minutes from it.
 */
export async function hasRollup(db: Sql): Promise<boolean> {
	const [row] = await db.query<{ n: number }>(
		`SELECT count(*)::int AS n FROM pg_trigger
		 WHERE tgname = 'decoded_data_rollup_insert' AND tgrelid = 'decoded_data'::regclass AND tgenabled <> 'D'`
	);
	return Number(row?.n) > 0;
}
