/**
 * decoded_data storage on both backends: the migrations (layout + seed metadata), the
 * idempotent bulk insert (COPY on PostgreSQL, unnest on PGlite) and the Timescale-or-plain
 * choice. This machine has no TimescaleDB: the hypertable/compression/retention branch of
 * sql/300_pipeline_decoded_data.sql cannot run here; the test checks which branch ran and
 * asserts the plain one (BRIN on time), and would assert the hypertable where the extension
 * is preloaded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { loadControllerSpec } from "../../services/pipeline-decode/metadata";
import { applyRetention, insertReadings, type Row } from "../../services/shared/pipeline/storage";
import { tempDir } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

const base = Date.UTC(2025, 0, 1);
const rows = (n: number, offset = 0): Row[] =>
	Array.from({ length: n }, (_, i) => ({
		ts: base + (i + offset) * 1000,
		deviceId: 1,
		datapointId: 1 + ((i + offset) % 3),
		value: (i + offset) / 4
	}));

function storageSuite(name: string, open: () => Promise<{ db: Database; done: () => Promise<void> }>) {
	describe(name, () => {
		let db: Database;
		let done: () => Promise<void>;
		beforeAll(async () => {
			({ db, done } = await open());
			await migrate(db);
		});
		afterAll(async () => {
			await db?.close();
			await done?.();
		});

		it("seeds the four controllers with their sensors and datapoints", async () => {
			for (const n of [1, 2, 3, 4]) {
				const spec = await loadControllerSpec(db, `aa:bb:cc:dd:ee:0${n}`);
				expect(spec).not.toBeNull();
				expect(Object.keys(spec!.sensors)).toEqual(["1", "2"]);
				expect(spec!.sensors["1"].datapoints.map(d => d.label)).toEqual([
					"temperature",
					"humidity",
					"pressure"
				]);
				expect(spec!.sensors["2"].datapoints.map(d => d.label)).toEqual([
					"voltage",
					"current",
					"power",
					"energy"
				]);
			}
			expect(await loadControllerSpec(db, "aa:bb:cc:dd:ee:05")).toBeNull();
		});

		it("inserts in bulk and skips rows already stored (redelivery) or repeated in one batch", async () => {
			expect(await insertReadings(db, rows(2500))).toBe(2500);
			expect(await insertReadings(db, rows(2500))).toBe(0);
			const overlapping = [...rows(10, 2495), ...rows(10, 2495)];
			expect(await insertReadings(db, overlapping)).toBe(5);
			const [{ n, total }] = await db.query<{ n: number; total: number }>(
				"SELECT count(*)::int AS n, sum(value)::float8 AS total FROM decoded_data"
			);
			expect(n).toBe(2505);
			expect(total).toBeCloseTo(
				rows(2505).reduce((a, r) => a + r.value, 0),
				6
			);
			const [first] = await db.query<{ t: string }>("SELECT min(timestamp) AS t FROM decoded_data");
			expect(new Date(first.t).getTime()).toBe(base);
		});

		it("stores times to the millisecond and values exactly, before and after 2000", async () => {
			const odd: Row[] = [
				{ ts: Date.UTC(1999, 11, 31, 23, 59, 59, 999), deviceId: 2, datapointId: 1, value: 1e-7 },
				{ ts: Date.UTC(2031, 6, 4, 12, 0, 0, 1) + 0.6, deviceId: 2 ** 31 - 1, datapointId: 7, value: -0.1 },
				{ ts: Date.UTC(2025, 0, 1, 0, 0, 0, 123), deviceId: 2, datapointId: 2, value: 2 ** 53 + 2 }
			];
			expect(await insertReadings(db, odd)).toBe(3);
			const got = await db.query<{ t: string | Date; device_id: number; datapoint_id: number; value: number }>(
				"SELECT timestamp AS t, device_id, datapoint_id, value FROM decoded_data WHERE device_id " +
					"<> 1 ORDER BY timestamp"
			);
			expect(got.map(r => [new Date(r.t).getTime(), r.device_id, r.datapoint_id, r.value])).toEqual(
				odd.map(r => [Math.trunc(r.ts), r.deviceId, r.datapointId, r.value]).sort((a, b) => a[0] - b[0])
			);
			await db.query("DELETE FROM decoded_data WHERE device_id <> 1");
		});

		it("uses the plain layout here (no TimescaleDB here), the hypertable where it is preloaded", async () => {
			const ts = await db.query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'");
			if (ts.length > 0) {
				const ht = await db.query(
					"SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'decoded_data'"
				);
				expect(ht).toHaveLength(1);
				expect(await applyRetention(db, 30)).toBe("timescaledb");
			} else {
				const idx = await db.query<{ indexdef: string }>(
					"SELECT indexdef FROM pg_indexes WHERE tablename = 'decoded_data' AND indexname = " +
						"'decoded_data_time_brin'"
				);
				expect(idx[0]?.indexdef).toMatch(/USING brin \("?timestamp"?\)/);
				expect(await applyRetention(db, 30)).toBe("plain");
			}
		});
	});
}

let pgDb: TestDatabase;
storageSuite(
	"pipeline storage on PostgreSQL (binary COPY; on a duplicate, temp table + ON CONFLICT DO NOTHING)",
	async () => {
		pgDb = await createTestDatabase("pipeline_storage");
		const db = await openDatabase({ databaseUrl: pgDb.url, dataDir: tempDir("pipeline-storage") });
		return { db, done: () => pgDb.drop() };
	}
);

storageSuite("pipeline storage on embedded PGlite (set-based INSERT from unnest)", async () => {
	const db = await openDatabase({ databaseUrl: null, dataDir: tempDir("pipeline-storage-pglite") });
	return { db, done: async () => undefined };
});
