/**
 * The per-minute rollup of decoded_data (decoded_data_1m) against the raw rows, on real
 * PostgreSQL and on embedded PGlite: written through the pipeline's own insert (COPY on
 * PostgreSQL, unnest on PGlite), with readings on minute edges, late data, replayed batches,
 * concurrent writers, deletes, updates and TRUNCATE. Every statistic read through the rollup
 * must equal the one computed from the raw rows alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { insertReadings, type Row } from "../../services/shared/pipeline/storage";
import {
	buildBucketQuery,
	buildSummaryQuery,
	isoFromEpochSeconds,
	toStats,
	type StatsFilter
} from "../../services/monitoring/queries";
import { hasRollup } from "../../services/monitoring/store";
import { tempDir } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

const T0 = Date.parse("2026-03-01T10:00:00Z");
const MIN = 60_000;

/** A deterministic generator: the same readings on every run and backend. */
function lcg(seed: number) {
	let s = seed;
	return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

async function stats(db: Database, f: StatsFilter, bucketMs?: number) {
	const s = buildSummaryQuery(f);
	const summary = await db.query(s.text, s.values);
	const buckets = bucketMs
		? await db.query(buildBucketQuery({ ...f, bucketMs }).text, buildBucketQuery({ ...f, bucketMs }).values)
		: null;
	return toStats(summary, buckets);
}

/** Rollup answer = raw answer: counts, min, max, last and times exactly; averages to floating-point rounding. */
function expectSame(viaRollup: unknown[], raw: unknown[]) {
	const round = (v: unknown): unknown =>
		Array.isArray(v)
			? v.map(round)
			: v && typeof v === "object"
				? Object.fromEntries(
						Object.entries(v).map(([k, x]) => [
							k,
							k === "avg" && typeof x === "number" ? Number(x.toPrecision(12)) : round(x)
						])
					)
				: v;
	expect(round(viaRollup)).toEqual(round(raw));
}

/** The rollup table recomputed from decoded_data: what the triggers must have kept. */
async function rollupDrift(db: Database): Promise<unknown[]> {
	return db.query(`
		WITH truth AS (
			SELECT device_id, datapoint_id,
				date_bin('1 minute', timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS minute,
				count(*)::int AS count, count(value)::int AS value_count, sum(value) AS sum, min(value) AS min,
				max(value) AS max, max(timestamp) AS last_at
			FROM decoded_data GROUP BY 1, 2, 3
		)
		SELECT coalesce(t.device_id, r.device_id) AS device_id, coalesce(t.minute, r.minute) AS minute,
			t.count AS raw_count, r.count AS rollup_count
		FROM truth t FULL JOIN decoded_data_1m r USING (device_id, datapoint_id, minute)
		WHERE t.count IS DISTINCT FROM r.count OR t.value_count IS DISTINCT FROM r.value_count
			OR t.min IS DISTINCT FROM r.min OR t.max IS DISTINCT FROM r.max OR t.last_at IS DISTINCT FROM r.last_at
			OR abs(coalesce(t.sum, 0) - coalesce(r.sum, 0)) > 1e-9 * greatest(1, abs(coalesce(t.sum, 0)))
			OR (t.sum IS NULL) <> (r.sum IS NULL)
		LIMIT 5`);
}

for (const backend of ["postgres", "pglite"] as const) {
	describe(`decoded_data per-minute rollup on ${backend}`, () => {
		let pg: TestDatabase | null = null;
		let db: Database;
		const dev: number[] = [];
		const dps: { id: number; device: number }[] = [];
		const written: Row[] = [];

		beforeAll(async () => {
			if (backend === "postgres") pg = await createTestDatabase("monitoring_rollup");
			db = await openDatabase({ databaseUrl: pg?.url ?? null, dataDir: tempDir("mon-rollup") });
			await migrate(db);
			for (const n of [1, 2]) {
				const [d] = await db.query("INSERT INTO devices (uid, name) VALUES ($1, $1) RETURNING id", [
					`rollup-${n}`
				]);
				dev.push(Number(d.id));
				for (const label of ["a", "b"]) {
					const [p] = await db.query(
						"INSERT INTO datapoints (device_id, label) VALUES ($1, $2) RETURNING id",
						[d.id, label]
					);
					dps.push({ id: Number(p.id), device: Number(d.id) });
				}
			}
			// 12 minutes of readings at irregular times, with readings exactly on minute edges and
			// one microsecond-ish before them, written in batches like the sink writes them.
			const rnd = lcg(7);
			const rows: Row[] = [];
			for (const dp of dps) {
				for (let t = T0; t < T0 + 12 * MIN; t += 1000 + Math.floor(rnd() * 9000)) {
					rows.push({
						ts: t,
						deviceId: dp.device,
						datapointId: dp.id,
						value: Math.round(rnd() * 1e6) / 1e3 - 300
					});
				}
				for (let m = 0; m <= 12; m++) {
					rows.push({ ts: T0 + m * MIN, deviceId: dp.device, datapointId: dp.id, value: m * 1.5 });
					rows.push({ ts: T0 + m * MIN - 1, deviceId: dp.device, datapointId: dp.id, value: -m });
				}
			}
			rows.sort((a, b) => a.ts - b.ts);
			const unique = rows.filter(
				(r, i) =>
					i === 0 ||
					r.ts !== rows[i - 1].ts ||
					r.deviceId !== rows[i - 1].deviceId ||
					r.datapointId !== rows[i - 1].datapointId
			);
			for (let i = 0; i < unique.length; i += 137) {
				const batch = unique.slice(i, i + 137);
				expect(await insertReadings(db, batch)).toBe(batch.length);
				written.push(...batch);
			}
		});

		afterAll(async () => {
			await db?.close();
			await pg?.drop();
		});

		it("is kept by the migration's triggers, which the monitoring service detects", async () => {
			expect(await hasRollup(db)).toBe(true);
			// Disabled, it is no longer kept: the service must not read it then.
			await db.query("ALTER TABLE decoded_data DISABLE TRIGGER decoded_data_rollup_insert");
			expect(await hasRollup(db)).toBe(false);
			await db.query("ALTER TABLE decoded_data ENABLE TRIGGER decoded_data_rollup_insert");
			expect(await hasRollup(db)).toBe(true);
			const [{ n }] = await db.query("SELECT count(*)::int AS n FROM decoded_data_1m");
			// 4 series × 13 minutes with readings (10:00 … 10:12), plus the reading at 09:59:59.999.
			expect(n).toBe(4 * 14);
			expect(await rollupDrift(db)).toEqual([]);
			// The stats query really reads the rollup when asked to.
			const q = buildSummaryQuery({
				window: { from: new Date(T0), to: new Date(T0 + 10 * MIN) },
				bucketFn: "date_bin",
				rollup: true
			});
			expect(q.text).toContain("decoded_data_1m");
		});

		it("gives bucket starts as epoch seconds that format to what to_char gives", async () => {
			const times = [
				"2026-03-01T10:00:00Z",
				"2026-03-01T10:00:00.000001Z",
				"2026-03-01T10:07:42.123456Z",
				"1999-12-31T23:59:59.999999Z",
				"1969-07-20T20:17:40.5Z"
			];
			const rows = await db.query<{ iso: string; s: number }>(
				`SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS iso,
					date_part('epoch', t) AS s
				 FROM unnest($1::timestamptz[]) AS t`,
				[times]
			);
			for (const r of rows) expect(isoFromEpochSeconds(Number(r.s))).toBe(r.iso);
		});

		it("answers every window exactly as the raw rows do: edges, partial minutes, sub-minute windows", async () => {
			const windows: [number, number][] = [
				[T0, T0 + 12 * MIN], // whole minutes only
				[T0 - 1, T0 + 12 * MIN + 1], // one millisecond either side of the minute edges
				[T0 + 17_345, T0 + 7 * MIN + 42_001], // partial minutes at both ends
				[T0 + 5 * MIN + 1000, T0 + 5 * MIN + 50_000], // inside one minute: raw only
				[T0 + 59_999, T0 + 2 * MIN + 1], // one whole minute between two partial ones
				[T0 + 30 * MIN, T0 + 40 * MIN] // no data
			];
			for (const [from, to] of windows) {
				for (const scope of [{}, { deviceId: dev[0] }, { datapointId: dps[3].id }, { datapoint: "b" }]) {
					const f: StatsFilter = {
						window: { from: new Date(from), to: new Date(to) },
						bucketFn: "date_bin",
						...scope
					};
					for (const bucketMs of [undefined, MIN, 5 * MIN, 10_000, 90_000]) {
						const raw = await stats(db, { ...f, rollup: false }, bucketMs);
						const viaRollup = await stats(db, { ...f, rollup: true }, bucketMs);
						expectSame(viaRollup, raw);
					}
				}
			}
			// The windows above are not all empty: the rollup has something to prove.
			const full = await stats(db, {
				window: { from: new Date(T0), to: new Date(T0 + 12 * MIN) },
				bucketFn: "date_bin",
				rollup: true
			});
			expect(full.reduce((n, d) => n + d.count, 0)).toBe(
				written.filter(r => r.ts >= T0 && r.ts < T0 + 12 * MIN).length
			);
		});

		it("does not count a replayed batch twice, and adds late data to its own minute", async () => {
			const replay = written.slice(200, 600);
			expect(await insertReadings(db, replay)).toBe(0);
			// Half a replay, half new rows two hours late into old minutes (and one new minute).
			const late: Row[] = dps.flatMap(dp => [
				{ ts: T0 + 3 * MIN + 123, deviceId: dp.device, datapointId: dp.id, value: 1e6 },
				{ ts: T0 + 3 * MIN + 124, deviceId: dp.device, datapointId: dp.id, value: -1e6 },
				{ ts: T0 - 7 * MIN, deviceId: dp.device, datapointId: dp.id, value: 0.25 }
			]);
			expect(await insertReadings(db, [...written.slice(0, 50), ...late])).toBe(late.length);
			expect(await rollupDrift(db)).toEqual([]);
			const f: StatsFilter = {
				window: { from: new Date(T0 - 10 * MIN), to: new Date(T0 + 12 * MIN) },
				bucketFn: "date_bin"
			};
			const viaRollup = await stats(db, { ...f, rollup: true }, MIN);
			expectSame(viaRollup, await stats(db, { ...f, rollup: false }, MIN));
			expect(viaRollup.every(d => d.max === 1e6 && d.min === -1e6)).toBe(true);
		});

		it("stays exact under concurrent writers of the same minutes (no deadlock, no lost update)", async () => {
			const t = T0 + 20 * MIN;
			const batches = [0, 1, 2, 3].map(k =>
				dps.flatMap(dp =>
					Array.from({ length: 50 }, (_, i) => ({
						ts: t + i * 1000 + k * 10,
						deviceId: dp.device,
						datapointId: dp.id,
						value: k
					}))
				)
			);
			const counts = await Promise.all(batches.map(b => insertReadings(db, b)));
			expect(counts).toEqual(batches.map(b => b.length));
			expect(await rollupDrift(db)).toEqual([]);
		});

		it("recomputes the minutes of deleted and updated rows, and empties with TRUNCATE", async () => {
			await db.query("DELETE FROM decoded_data WHERE timestamp >= $1 AND timestamp < $2 AND datapoint_id = $3", [
				new Date(T0 + 2 * MIN + 10_000).toISOString(),
				new Date(T0 + 4 * MIN).toISOString(),
				dps[0].id
			]);
			// A whole minute of one series gone: its rollup row must go too, not stay at count 0.
			await db.query("DELETE FROM decoded_data WHERE timestamp >= $1 AND timestamp < $2 AND datapoint_id = $3", [
				new Date(T0 + 6 * MIN).toISOString(),
				new Date(T0 + 7 * MIN).toISOString(),
				dps[1].id
			]);
			await db.query("UPDATE decoded_data SET value = value * 2 WHERE datapoint_id = $1 AND timestamp < $2", [
				dps[2].id,
				new Date(T0 + 5 * MIN).toISOString()
			]);
			await db.query(
				"UPDATE decoded_data SET timestamp = timestamp + interval '90 seconds' " +
					"WHERE datapoint_id = $1 AND timestamp >= $2 AND timestamp < $3",
				[dps[3].id, new Date(T0 + 9 * MIN).toISOString(), new Date(T0 + 9 * MIN + 30_000).toISOString()]
			);
			await db.query(
				"UPDATE decoded_data SET value = NULL WHERE datapoint_id = $1 AND timestamp >= $2 AND timestamp < $3",
				[dps[3].id, new Date(T0 + MIN).toISOString(), new Date(T0 + 2 * MIN).toISOString()]
			);
			expect(await rollupDrift(db)).toEqual([]);
			const f: StatsFilter = {
				window: { from: new Date(T0 - MIN), to: new Date(T0 + 30 * MIN) },
				bucketFn: "date_bin"
			};
			expectSame(
				await stats(db, { ...f, rollup: true }, 2 * MIN),
				await stats(db, { ...f, rollup: false }, 2 * MIN)
			);
			await db.query("TRUNCATE decoded_data");
			const [{ n }] = await db.query("SELECT count(*)::int AS n FROM decoded_data_1m");
			expect(n).toBe(0);
		});
	});
}
