/**
 * Build statistics in PostgreSQL (upstream keeps them in Redis time series): the events the
 * API and the workers count, and the views of upstream's stats router computed from them.
 */
import type { Sql } from "../../../mixins/db/database";
import { branchOf } from "./metadata";
import type { BuildCounts } from "../contracts/api";

export type BuildEvent = "requests" | "cache-hits" | "cache-misses" | "successes" | "failures";

export interface EventRow {
	event: BuildEvent;
	requestHash?: string | null;
	client?: string | null;
	version?: string | null;
	target?: string | null;
	profile?: string | null;
	durationMs?: number | null;
	images?: unknown;
	error?: string | null;
}

export async function recordEvents(db: Sql, rows: EventRow[]): Promise<void> {
	if (!rows.length) return;
	const values: unknown[] = [];
	const tuples = rows.map((r, i) => {
		values.push(
			r.event,
			r.requestHash ?? null,
			r.client ?? null,
			r.version ?? null,
			r.target ?? null,
			r.profile ?? null,
			r.durationMs ?? null,
			r.images == null ? null : JSON.stringify(r.images),
			r.error ?? null
		);
		const b = i * 9;
		return (
			`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}::jsonb, ` +
			`$${b + 9})`
		);
	});
	await db.query(
		`INSERT INTO build_events (event, request_hash, client, version, target, profile, duration_ms, ` +
			`images, error) VALUES ${tuples.join(", ")}`,
		values
	);
}

export async function recordPackages(db: Sql, version: string, packages: string[]): Promise<void> {
	if (!packages.length) return;
	const branch = branchOf(version);
	await db.query(`INSERT INTO build_packages (branch, package) SELECT $1, unnest($2::text[])`, [branch, packages]);
}

/** ErrorLog.log_build_error: job ids hidden, whitespace collapsed, 200 characters. */
export function cleanError(message: string): string {
	return message
		.replace(/[0-9a-f]{64}/g, "[job-id]")
		.split(/\s+/)
		.filter(Boolean)
		.join(" ")
		.slice(0, 200);
}

const DAY_MS = 86_400_000;

/** Day (or week) buckets ending at the next UTC midnight, labelled "YYYY-MM-DDZ". */
function buckets(count: number, intervalMs: number, now = Date.now()) {
	const stop = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
	const start = stop - count * intervalMs;
	const stamps = Array.from({ length: count }, (_, i) => start + i * intervalMs);
	return { start, stop, stamps, labels: stamps.map(s => new Date(s).toISOString().slice(0, 10) + "Z") };
}

export async function summary(db: Sql): Promise<{ builds_24h: number }> {
	const [r] = await db.query<{ n: string }>(
		`SELECT count(*) AS n FROM build_events WHERE event = 'successes' AND at > now() - interval '1 day'`
	);
	return { builds_24h: Number(r?.n ?? 0) };
}

export async function buildsPerDay(db: Sql) {
	const { start, stamps, labels } = buckets(30, DAY_MS);
	const rows = await db.query<{ event: string; day: number; n: string }>(
		`SELECT event, floor((extract(epoch FROM at) * 1000 - $1) / $2)::int AS day, count(*) AS n
		 FROM build_events WHERE at >= to_timestamp($1 / 1000.0) AND event IN ('requests', 'cache-hits', 'failures')
		 GROUP BY 1, 2`,
		[start, DAY_MS]
	);
	const data = (event: string) =>
		stamps.map((_, i) => Number(rows.find(r => r.event === event && r.day === i)?.n ?? 0));
	return {
		labels,
		datasets: [
			{ label: "Requests", data: data("requests"), color: "green" },
			{ label: "Cache-Hits", data: data("cache-hits"), color: "orange" },
			{ label: "Failures", data: data("failures"), color: "red" }
		]
	};
}

export async function buildsByVersion(db: Sql, branch: string | null) {
	const week = 7 * DAY_MS;
	const { start, stamps, labels } = buckets(26, week);
	const rows = await db.query<{ version: string; bucket: number; n: string }>(
		`SELECT version, floor((extract(epoch FROM at) * 1000 - $1) / $2)::int AS bucket, count(*) AS n
		 FROM build_events WHERE event = 'successes' AND at >= to_timestamp($1 / 1000.0) GROUP BY 1, 2`,
		[start, week]
	);
	const series = new Map<string, number[]>();
	for (const r of rows) {
		let label = r.version ?? "";
		if (branch && !label.startsWith(branch)) continue;
		if (!branch && label.includes(".")) label = label.slice(0, 5);
		if (!series.has(label))
			series.set(
				label,
				stamps.map(() => 0)
			);
		series.get(label)![r.bucket] += Number(r.n);
	}
	return { labels, datasets: [...series.keys()].sort().map(label => ({ label, data: series.get(label)! })) };
}

export async function topPackages(db: Sql, branch: string | null, n: number) {
	const rows = await db.query<{ package: string; n: string }>(
		`SELECT package, count(*) AS n FROM build_packages WHERE at > now() - interval '30 days' AND ` +
			`($1::text IS NULL OR branch = $1) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2`,
		[branch, n]
	);
	return { packages: rows.map(r => ({ name: r.package, count: Number(r.n) })), branch, days: 30 };
}

/** The text of GET /api/v1/build-errors (ErrorLog.get_summary). */
export async function buildErrors(db: Sql, n: number): Promise<string> {
	const rows = await db.query<{ at: Date; version: string; target: string; profile: string; error: string }>(
		`SELECT at, version, target, profile, error FROM build_events WHERE event = 'failures' ORDER BY at ` +
			`DESC, id DESC LIMIT $1`,
		[n]
	);
	if (!rows.length) return "No build errors recorded.";
	const ts = (d: Date) => new Date(d).toISOString().slice(0, 19).replace("T", " ");
	const entries = rows.map(r => `${ts(r.at)} ${r.version}:${r.target}:${r.profile} ${cleanError(r.error ?? "")}`);
	return [
		`Build Errors: ${entries.length} entries`,
		`Time range: ${ts(rows[rows.length - 1].at)} to ${ts(rows[0].at)}`,
		"",
		"Recent errors:",
		"-".repeat(60),
		...entries
	].join("\n");
}

/** Recent builds (successes and failures) for the dashboard, in the API's camelCase (docs/api.md). */
export async function recentBuilds(db: Sql, limit: number) {
	const rows = await db.query(
		`SELECT at, event, request_hash, version, target, profile, duration_ms, images, error FROM build_events
		 WHERE event IN ('successes', 'failures') ORDER BY at DESC, id DESC LIMIT $1`,
		[limit]
	);
	return rows.map(r => ({
		at: new Date(r.at).toISOString(),
		status: r.event === "successes" ? ("done" as const) : ("failed" as const),
		requestHash: r.request_hash,
		version: r.version,
		target: r.target,
		profile: r.profile,
		durationMs: r.duration_ms,
		images: r.images ?? [],
		error: r.error
	}));
}

export async function counts(db: Sql): Promise<Record<BuildEvent, number>> {
	const rows = await db.query<{ event: BuildEvent; n: string }>(
		`SELECT event, count(*) AS n FROM build_events GROUP BY 1`
	);
	const out = { requests: 0, "cache-hits": 0, "cache-misses": 0, successes: 0, failures: 0 } as Record<
		BuildEvent,
		number
	>;
	for (const r of rows) out[r.event] = Number(r.n);
	return out;
}

/** The counts as the dashboard's `GET /api/builds/recent` shows them (camelCase, like every answer). */
export function toBuildCounts(c: Record<BuildEvent, number>): BuildCounts {
	return {
		requests: c.requests,
		cacheHits: c["cache-hits"],
		cacheMisses: c["cache-misses"],
		successes: c.successes,
		failures: c.failures
	};
}
