/**
 * Read-side queries of the monitoring service: plain functions that turn validated filters
 * into one parameterised SQL statement each, and rows into the API shape. Every query is
 * bounded: a time window (default and maximum), a row limit, a bucket count.
 */
import { ownerCondition, type Caller } from "../../mixins/authorization";
import type { Row } from "../../mixins/db/database";
import type { ReadingsPage, StatsBucket, StatsDatapoint } from "../shared/contracts/api";
import { UnprocessableError } from "../shared/errors";

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
/** A data query without `from` looks this far back. */
export const DEFAULT_DATA_WINDOW_MS = 24 * 3600_000;
/** A stats query without `from` covers the last hour. */
export const DEFAULT_STATS_WINDOW_MS = 3600_000;
/** Longest window one stats query may cover. */
export const MAX_STATS_WINDOW_MS = 366 * 24 * 3600_000;
/** Most buckets one stats query may return per datapoint. */
export const MAX_BUCKETS = 5000;

/** Who is asking: admins see every device, others only devices whose `owner` is their user id. */
export interface Viewer {
	id: number | string;
	email?: string;
	is_admin?: boolean;
}

export interface TimeWindow {
	from: Date;
	to: Date;
}

/**
 * Parses a time bound: ISO 8601, epoch milliseconds, or relative to now ("-15m", "-2h", "-7d",
 * "now"). Throws a 422 naming the parameter when it is none of these.
 */
export function parseTime(value: string | number | undefined, name: string, now = Date.now()): Date | undefined {
	if (value == null || value === "") return undefined;
	if (typeof value === "number") return checkedDate(new Date(value), name, value);
	const v = value.trim();
	if (v === "now") return new Date(now);
	const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(v);
	if (rel) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]]);
	if (/^\d{10,}$/.test(v)) return checkedDate(new Date(Number(v)), name, value);
	return checkedDate(new Date(v), name, value);
}

function checkedDate(d: Date, name: string, raw: unknown): Date {
	if (Number.isNaN(d.getTime())) {
		throw new UnprocessableError(
			`'${name}' must be an ISO 8601 time, epoch milliseconds or a relative time such as -15m`,
			{ field: name, value: raw }
		);
	}
	return d;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a bucket width ("10s", "1m", "5 minutes", "1h", "1d") into milliseconds. */
export function parseBucket(value: string): number {
	const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$/i.exec(
		value
	);
	if (!m)
		throw new UnprocessableError("'bucket' must be a width such as 10s, 1m, 15m, 1h or 1d", {
			field: "bucket",
			value
		});
	const unit = m[2].toLowerCase();
	const key =
		unit === "ms" ? "ms" : unit.startsWith("s") ? "s" : unit.startsWith("mi") || unit === "m" ? "m" : unit[0];
	const ms = Number(m[1]) * UNIT_MS[key];
	if (ms < 1000) throw new UnprocessableError("'bucket' must be at least 1s", { field: "bucket", value });
	return ms;
}

export function resolveWindow(
	from: Date | undefined,
	to: Date | undefined,
	defaultMs: number,
	maxMs: number,
	now = Date.now()
): TimeWindow {
	const end = to ?? new Date(now);
	const start = from ?? new Date(end.getTime() - defaultMs);
	if (start.getTime() >= end.getTime())
		throw new UnprocessableError("'from' must be before 'to'", {
			from: start.toISOString(),
			to: end.toISOString()
		});
	if (end.getTime() - start.getTime() > maxMs) {
		throw new UnprocessableError(
			`the window from 'from' to 'to' may cover at most ${Math.round(maxMs / 86_400_000)} days`,
			{
				from: start.toISOString(),
				to: end.toISOString()
			}
		);
	}
	return { from: start, to: end };
}

// ---- cursor ---------------------------------------------------------------------------------

/** Position after the last row of a page: rows are ordered by (timestamp, device, datapoint) descending. */
export interface Cursor {
	ts: string;
	deviceId: number;
	datapointId: number;
}

export function encodeCursor(c: Cursor): string {
	return Buffer.from(`${c.ts}|${c.deviceId}|${c.datapointId}`, "utf8").toString("base64url");
}

export function decodeCursor(raw: string): Cursor {
	const text = Buffer.from(raw, "base64url").toString("utf8");
	const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|(\d+)\|(\d+)$/.exec(text);
	if (!m) throw new UnprocessableError("'cursor' is not a cursor returned by this API", { field: "cursor" });
	return { ts: m[1], deviceId: Number(m[2]), datapointId: Number(m[3]) };
}

// ---- SQL building ---------------------------------------------------------------------------

/** Collects parameters and returns their `$n` placeholders. */
class Params {
	readonly values: unknown[] = [];
	add(v: unknown): string {
		this.values.push(v);
		return `$${this.values.length}`;
	}
}

/** Microsecond ISO text of a timestamptz: exact round trip for cursors, and what the API returns. */
const isoUs = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
/**
 * Seconds since the epoch of a timestamptz as float8 (date_part, not the numeric extract): for
 * thousands of bucket starts, formatting in JavaScript (isoFromEpochSeconds) is several times
 * cheaper than to_char in the database.
 */
const epochS = (col: string) => `date_part('epoch', ${col})`;

/** The ISO text isoUs gives (microseconds, UTC), from seconds since the epoch. */
export function isoFromEpochSeconds(seconds: number): string {
	// float8 seconds of this era resolve well below a microsecond: rounding recovers it exactly.
	const us = Math.round(seconds * 1e6);
	const ms = Math.floor(us / 1000);
	const rest = us - ms * 1000;
	return `${new Date(ms).toISOString().slice(0, -1)}${String(rest).padStart(3, "0")}Z`;
}

/** The policy's owner filter (mixins/authorization.ts): no viewer = a service call, sees all. */
function viewerFilter(p: Params, viewer: Viewer | undefined, deviceAlias: string): string | null {
	return ownerCondition(asCaller(viewer), `${deviceAlias}.owner`, v => p.add(v));
}

export interface DataFilter {
	deviceId?: number;
	datapointId?: number;
	/** Datapoint label, e.g. "temperature" (all devices' datapoints with that label). */
	datapoint?: string;
	window: TimeWindow;
	limit: number;
	cursor?: Cursor;
	viewer?: Viewer;
}

export function buildDataQuery(f: DataFilter): { text: string; values: unknown[] } {
	const p = new Params();
	const where = [
		`d.timestamp >= ${p.add(f.window.from.toISOString())}::timestamptz`,
		`d.timestamp < ${p.add(f.window.to.toISOString())}::timestamptz`
	];
	if (f.deviceId != null) where.push(`d.device_id = ${p.add(f.deviceId)}`);
	if (f.datapointId != null) where.push(`d.datapoint_id = ${p.add(f.datapointId)}`);
	if (f.datapoint != null) where.push(`dp.label = ${p.add(f.datapoint)}`);
	if (f.cursor) {
		where.push(
			`(d.timestamp, d.device_id, d.datapoint_id) < (${p.add(f.cursor.ts)}::timestamptz, ` +
				`${p.add(f.cursor.deviceId)}::int, ${p.add(f.cursor.datapointId)}::int)`
		);
	}
	const vf = viewerFilter(p, f.viewer, "dev");
	if (vf) where.push(vf);
	// One row more than asked tells whether there is a next page.
	const text = `SELECT ${isoUs("d.timestamp")} AS ts, d.device_id, dev.name AS device, d.datapoint_id,
		dp.label, dp.unit, d.value
		FROM decoded_data d
		JOIN datapoints dp ON dp.id = d.datapoint_id
		JOIN devices dev ON dev.id = d.device_id
		WHERE ${where.join(" AND ")}
		ORDER BY d.timestamp DESC, d.device_id DESC, d.datapoint_id DESC
		LIMIT ${p.add(f.limit + 1)}`;
	return { text, values: p.values };
}

export interface DataRow {
	ts: string;
	device_id: number;
	device: string;
	datapoint_id: number;
	label: string;
	unit: string | null;
	value: number | null;
}

/** The answer of `GET /api/monitoring/data` (contracts/api.ts ReadingsPage). */
export function toDataPage(rows: DataRow[], limit: number, window: TimeWindow): ReadingsPage {
	const page = rows.slice(0, limit);
	const last = page[page.length - 1];
	return {
		items: page.map(r => ({
			ts: r.ts,
			deviceId: Number(r.device_id),
			device: r.device,
			datapointId: Number(r.datapoint_id),
			datapoint: r.label,
			unit: r.unit,
			value: r.value == null ? null : Number(r.value)
		})),
		nextCursor:
			rows.length > limit && last
				? encodeCursor({
						ts: last.ts,
						deviceId: Number(last.device_id),
						datapointId: Number(last.datapoint_id)
					})
				: null,
		from: window.from.toISOString(),
		to: window.to.toISOString()
	};
}

export interface StatsFilter {
	deviceId?: number;
	datapointId?: number;
	datapoint?: string;
	window: TimeWindow;
	bucketMs?: number;
	viewer?: Viewer;
	/** time_bucket (TimescaleDB) or date_bin (plain PostgreSQL / PGlite). */
	bucketFn: "time_bucket" | "date_bin";
	/** Read whole minutes from the per-minute rollup decoded_data_1m (where its triggers exist). */
	rollup?: boolean;
}

/**
 * Conditions on decoded_data alone: labels and owners become id sub-selects, so the aggregate
 * runs over the telemetry rows without a join per row; names and units are joined afterwards.
 * `time` is the condition on time (the window, or the rollup's share of it) over `alias`.
 */
function statsWhere(p: Params, f: StatsFilter, alias = "d", time?: string): string[] {
	const where = [
		time ??
			`${alias}.timestamp >= ${p.add(f.window.from.toISOString())}::timestamptz AND ` +
				`${alias}.timestamp < ${p.add(f.window.to.toISOString())}::timestamptz`
	];
	if (f.deviceId != null) where.push(`${alias}.device_id = ${p.add(f.deviceId)}`);
	if (f.datapointId != null) where.push(`${alias}.datapoint_id = ${p.add(f.datapointId)}`);
	if (f.datapoint != null)
		where.push(`${alias}.datapoint_id IN (SELECT id FROM datapoints WHERE label = ${p.add(f.datapoint)})`);
	const vf = viewerFilter(p, f.viewer, "o");
	if (vf) where.push(`${alias}.device_id IN (SELECT o.id FROM devices o WHERE ${vf})`);
	return where;
}

/**
 * How a window splits between the per-minute rollup (decoded_data_1m, the whole minutes inside
 * it) and the raw rows (the partial minutes at either edge); null when the rollup is not used
 * (not enabled, or no whole minute in the window).
 */
export function rollupSplit(f: StatsFilter): { minutesFrom: Date; minutesTo: Date } | null {
	if (!f.rollup) return null;
	const m1 = Math.ceil(f.window.from.getTime() / 60_000) * 60_000;
	const m2 = Math.floor(f.window.to.getTime() / 60_000) * 60_000;
	return m1 < m2 ? { minutesFrom: new Date(m1), minutesTo: new Date(m2) } : null;
}

/**
 * The two sources of a rollup-backed statistic, as one UNION ALL of partial aggregates
 * (n rows, nv non-null values, s sum, mn min, mx max, last_at): raw rows at the edges
 * [from, first whole minute) and [end of the last whole minute, to), and the whole minutes
 * between from the rollup. `bucket` adds a bucket column computed from each row's time.
 */
function rollupParts(
	p: Params,
	f: StatsFilter,
	split: { minutesFrom: Date; minutesTo: Date },
	bucket?: (col: string) => string
): string {
	const from = p.add(f.window.from.toISOString());
	const m1 = p.add(split.minutesFrom.toISOString());
	const m2 = p.add(split.minutesTo.toISOString());
	const to = p.add(f.window.to.toISOString());
	const edges = `((d.timestamp >= ${from}::timestamptz AND d.timestamp < ${m1}::timestamptz)
			OR (d.timestamp >= ${m2}::timestamptz AND d.timestamp < ${to}::timestamptz))`;
	const whole = `r.minute >= ${m1}::timestamptz AND r.minute < ${m2}::timestamptz`;
	const b = (col: string) => (bucket ? `, ${bucket(col)}` : "");
	// Integer counts (not bigint): the outer sum is then a bigint sum, not a numeric one. The
	// rollup's rows go out one per minute: the outer aggregate groups them once.
	return `SELECT d.device_id, d.datapoint_id${b("d.timestamp")}, count(*)::int AS n, count(d.value)::int AS nv,
				sum(d.value) AS s, min(d.value) AS mn, max(d.value) AS mx, max(d.timestamp) AS last_at
			FROM decoded_data d
			WHERE ${statsWhere(p, f, "d", edges).join(" AND ")}
			GROUP BY 1, 2${bucket ? ", 3" : ""}
			UNION ALL
			SELECT r.device_id, r.datapoint_id${b("r.minute")}, r.count, r.value_count, r.sum, r.min, r.max, r.last_at
			FROM decoded_data_1m r
			WHERE ${statsWhere(p, f, "r", whole).join(" AND ")}`;
}

/** The average of combined partial aggregates: the sum of values over the count of values. */
const COMBINED_AVG = "(sum(x.s) / nullif(sum(x.nv), 0)::float8)";

/** Per datapoint over the window: count, min, max, avg and the last value with its time. */
export function buildSummaryQuery(f: StatsFilter): { text: string; values: unknown[] } {
	const p = new Params();
	const split = rollupSplit(f);
	const agg = split
		? `SELECT x.device_id, x.datapoint_id, sum(x.n)::int AS count, min(x.mn) AS min, max(x.mx) AS max,
				${COMBINED_AVG} AS avg, max(x.last_at) AS last_at
			FROM (${rollupParts(p, f, split)}) x
			GROUP BY x.device_id, x.datapoint_id`
		: `SELECT d.device_id, d.datapoint_id, count(*)::int AS count, min(d.value) AS min, max(d.value) AS max,
				avg(d.value) AS avg, max(d.timestamp) AS last_at
			FROM decoded_data d
			WHERE ${statsWhere(p, f).join(" AND ")}
			GROUP BY d.device_id, d.datapoint_id`;
	// The last value is one index lookup per datapoint at its latest timestamp, not a sort.
	const text = `WITH agg AS (
			${agg}
		)
		SELECT agg.device_id, dev.name AS device, agg.datapoint_id, dp.label, dp.unit, agg.count,
			agg.min, agg.max, agg.avg,
			(SELECT x.value FROM decoded_data x
			 WHERE x.device_id = agg.device_id AND x.datapoint_id = agg.datapoint_id AND x.timestamp = agg.last_at
			 LIMIT 1) AS last,
			${isoUs("agg.last_at")} AS last_ts
		FROM agg
		JOIN datapoints dp ON dp.id = agg.datapoint_id
		JOIN devices dev ON dev.id = agg.device_id
		ORDER BY agg.device_id, agg.datapoint_id`;
	return { text, values: p.values };
}

/** Per datapoint and time bucket: count, min, max, avg. Buckets are aligned to the Unix epoch. */
export function buildBucketQuery(f: StatsFilter & { bucketMs: number }): { text: string; values: unknown[] } {
	const p = new Params();
	// Both functions take the width first; the origin makes date_bin align like time_bucket.
	const width = `${p.add(`${f.bucketMs / 1000} seconds`)}::interval`;
	const bucketOf = (col: string) =>
		f.bucketFn === "time_bucket"
			? `time_bucket(${width}, ${col})`
			: `date_bin(${width}, ${col}, TIMESTAMPTZ '1970-01-01 00:00:00+00')`;
	// Whole epoch-aligned minutes nest in buckets of whole minutes: each rollup minute falls in one bucket.
	const split = f.bucketMs % 60_000 === 0 ? rollupSplit(f) : null;
	if (split) {
		const text = `SELECT x.device_id, x.datapoint_id, ${epochS("x.bucket")} AS bucket_s,
				sum(x.n)::int AS count, min(x.mn) AS min, max(x.mx) AS max, ${COMBINED_AVG} AS avg
			FROM (${rollupParts(p, f, split, col => `${bucketOf(col)} AS bucket`)}) x
			GROUP BY x.device_id, x.datapoint_id, x.bucket
			ORDER BY x.device_id, x.datapoint_id, x.bucket`;
		return { text, values: p.values };
	}
	const where = statsWhere(p, f);
	const text = `SELECT d.device_id, d.datapoint_id, ${epochS("b.bucket")} AS bucket_s,
			count(*)::int AS count, min(d.value) AS min, max(d.value) AS max, avg(d.value) AS avg
		FROM decoded_data d
		CROSS JOIN LATERAL (SELECT ${bucketOf("d.timestamp")} AS bucket) b
		WHERE ${where.join(" AND ")}
		GROUP BY d.device_id, d.datapoint_id, b.bucket
		ORDER BY d.device_id, d.datapoint_id, b.bucket`;
	return { text, values: p.values };
}

// The shapes of the stats answer are the API contract (contracts/api.ts), shared with the dashboard.
export type Bucket = StatsBucket;
export type DatapointStats = StatsDatapoint;

const num = (v: unknown) => (v == null ? null : Number(v));

export function toStats(summary: Row[], buckets: Row[] | null): DatapointStats[] {
	const byKey = new Map<string, Bucket[]>();
	for (const b of buckets ?? []) {
		const key = `${b.device_id}:${b.datapoint_id}`;
		let list = byKey.get(key);
		if (!list) byKey.set(key, (list = []));
		list.push({
			start: isoFromEpochSeconds(Number(b.bucket_s)),
			count: Number(b.count),
			min: num(b.min),
			max: num(b.max),
			avg: num(b.avg)
		});
	}
	return summary.map(s => ({
		deviceId: Number(s.device_id),
		device: s.device,
		datapointId: Number(s.datapoint_id),
		datapoint: s.label,
		unit: s.unit,
		count: Number(s.count),
		min: num(s.min),
		max: num(s.max),
		avg: num(s.avg),
		last: num(s.last),
		lastTs: s.last_ts ?? null,
		...(buckets ? { buckets: byKey.get(`${s.device_id}:${s.datapoint_id}`) ?? [] } : {})
	}));
}

/** Refuses a bucket width that would return more than MAX_BUCKETS buckets per datapoint. */
export function checkBucketCount(window: TimeWindow, bucketMs: number): void {
	const n = Math.ceil((window.to.getTime() - window.from.getTime()) / bucketMs);
	if (n > MAX_BUCKETS) {
		throw new UnprocessableError(`'bucket' is too small for this window: ${n} buckets, at most ${MAX_BUCKETS}`, {
			field: "bucket",
			buckets: n
		});
	}
}

/** Devices the viewer may see, with their datapoints and each datapoint's latest value. */
export function buildOverviewQuery(
	viewer: Viewer | undefined,
	deviceId?: number,
	page?: { afterId?: number; limit: number }
): { text: string; values: unknown[] } {
	const p = new Params();
	const where: string[] = [];
	const vf = viewerFilter(p, viewer, "dev");
	if (vf) where.push(vf);
	if (deviceId != null) where.push(`dev.id = ${p.add(deviceId)}`);
	if (page?.afterId) where.push(`dev.id > ${p.add(page.afterId)}`);
	const text = `SELECT dev.id, dev.name, dev.type, dev.profile, dev.status, dev.node_id, dev.owner,
			${isoUs("md.last_seen")} AS last_seen,
			(SELECT count(*)::int FROM alerts a WHERE a.device_id = dev.id AND a.cleared_at IS NULL) AS open_alerts,
			coalesce((SELECT json_agg(
					json_build_object('id', dp.id, 'label', dp.label, 'unit', dp.unit, 'value', l.value, 'ts', l.ts)
					ORDER BY dp.id)
				FROM datapoints dp
				LEFT JOIN LATERAL (
					SELECT x.value, ${isoUs("x.timestamp")} AS ts FROM decoded_data x
					WHERE x.device_id = dp.device_id AND x.datapoint_id = dp.id
					ORDER BY x.timestamp DESC LIMIT 1
				) l ON true
				WHERE dp.device_id = dev.id), '[]'::json) AS datapoints
		FROM devices dev
		LEFT JOIN monitoring_devices md ON md.device_id = dev.id
		${where.length ? `WHERE ${where.join(" AND ")}` : ""}
		ORDER BY dev.id${page ? ` LIMIT ${p.add(page.limit)}` : ""}`;
	return { text, values: p.values };
}

/** A viewer as the policy's caller (null: a service call). */
export function asCaller(viewer: Viewer | undefined): Caller | null {
	return viewer ? { id: Number(viewer.id), email: viewer.email ?? "", is_admin: viewer.is_admin === true } : null;
}
