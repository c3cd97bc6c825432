/**
 * Migrations on the real PostgreSQL and on PGlite: the same schema, a second run is a no-op,
 * two concurrent runs do not collide.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../mixins/db/database";
import { loadMigrations, migrate } from "../../mixins/db/migrate";
import { tempDir } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

/** Tables, columns (type, nullability, default), constraints and indexes of the public schema. */
async function describeSchema(db: Database) {
	const columns = await db.query(
		`SELECT table_name, column_name, data_type, is_nullable, column_default
		   FROM information_schema.columns WHERE table_schema = 'public'
		  ORDER BY table_name, column_name`
	);
	const constraints = await db.query(
		`SELECT tc.table_name, tc.constraint_type, string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position) AS
		   cols
		   FROM information_schema.table_constraints tc
		   JOIN information_schema.key_column_usage kcu
		     ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
		  WHERE tc.table_schema = 'public'
		  GROUP BY tc.table_name, tc.constraint_type, tc.constraint_name
		  ORDER BY 1, 2, 3`
	);
	const indexes = await db.query(
		`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`
	);
	return { columns, constraints, indexes };
}

describe("migrations", () => {
	let pgDb: TestDatabase;
	let pg1: Database;
	let pg2: Database;
	let lite: Database;

	beforeAll(async () => {
		pgDb = await createTestDatabase("migrations");
		// Two pools: two "nodes" starting at the same moment against one database.
		pg1 = await openDatabase({ databaseUrl: pgDb.url, dataDir: "" });
		pg2 = await openDatabase({ databaseUrl: pgDb.url, dataDir: "" });
		lite = await openDatabase({ databaseUrl: null, dataDir: tempDir("migrations") });
	});

	afterAll(async () => {
		await pg1?.close();
		await pg2?.close();
		await lite?.close();
		await pgDb?.drop();
	});

	it("two concurrent runs on PostgreSQL apply each migration exactly once", async () => {
		const all = loadMigrations().map(m => m.id);
		expect(all.length).toBeGreaterThan(0);
		const [a, b] = await Promise.all([migrate(pg1), migrate(pg2)]);
		// Between them every migration was applied once; the one that waited found nothing left.
		expect([...a.applied, ...b.applied].sort()).toEqual([...all].sort());
		expect(a.applied.length === 0 || b.applied.length === 0).toBe(true);
		const recorded = await pg1.query<{ id: string }>("SELECT id FROM schema_migrations ORDER BY id");
		expect(recorded.map(r => r.id)).toEqual([...all].sort());
	});

	it("a second run is a no-op", async () => {
		const before = await describeSchema(pg1);
		const again = await migrate(pg1);
		expect(again.applied).toEqual([]);
		expect(again.changed).toEqual([]);
		expect(await describeSchema(pg1)).toEqual(before);
	});

	it("PGlite gets the same schema as PostgreSQL", async () => {
		const first = await migrate(lite);
		expect(first.applied.length).toBe(loadMigrations().length);
		expect((await migrate(lite)).applied).toEqual([]);
		const [onPg, onLite] = await Promise.all([describeSchema(pg1), describeSchema(lite)]);
		expect(onLite.columns).toEqual(onPg.columns);
		expect(onLite.constraints).toEqual(onPg.constraints);
		expect(onLite.indexes).toEqual(onPg.indexes);
	});

	it("a failing migration is rolled back whole and names its file", async () => {
		const broken = [
			{
				id: "999_broken",
				file: "999_broken.sql",
				sql: "CREATE TABLE half_done (a int); SELECT * FROM no_such_table;",
				checksum: "x"
			}
		];
		await expect(migrate(lite, broken)).rejects.toThrow(/999_broken\.sql/);
		const leftovers = await lite.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
		expect(leftovers).toEqual([]);
		// …and the lock was released: a normal run still works.
		expect((await migrate(lite)).applied).toEqual([]);
	});

	it("transactions commit or roll back as a whole, on both backends", async () => {
		for (const db of [pg1, lite]) {
			await expect(
				db.transaction(async tx => {
					await tx.query("INSERT INTO devices (uid, name) VALUES ($1, $2)", ["tx-test", "rolled back"]);
					throw new Error("boom");
				})
			).rejects.toThrow("boom");
			expect(await db.query("SELECT 1 FROM devices WHERE uid = $1", ["tx-test"])).toEqual([]);
			await db.transaction(tx =>
				tx.query("INSERT INTO devices (uid, name) VALUES ($1, $2)", ["tx-test", "kept"])
			);
			expect(await db.query("SELECT name FROM devices WHERE uid = $1", ["tx-test"])).toEqual([{ name: "kept" }]);
		}
	});
	it("decoded_data keeps its time-first key, series index and BRIN on both backends", async () => {
		for (const db of [pg1, lite]) {
			const indexes = await db.query<{ indexname: string; indexdef: string }>(
				"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'decoded_data' ORDER BY 1"
			);
			expect(indexes.map(i => i.indexname)).toEqual([
				"decoded_data_device_dp_time",
				"decoded_data_pkey",
				"decoded_data_time_brin"
			]);
			expect(indexes[1].indexdef).toMatch(/\("timestamp", device_id, datapoint_id\)/);
		}
	});

	it("341 undoes 340's series key where it ran, keeping the rows", async () => {
		const db = await openDatabase({ databaseUrl: null, dataDir: tempDir("migrations-341") });
		try {
			const all = loadMigrations();
			await migrate(
				db,
				all.filter(m => m.id < "341")
			);
			await db.query(
				"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) " +
					"SELECT TIMESTAMPTZ '2026-12-01' + i * interval '1 s', 1 + i % 3, 1, i " +
					"FROM generate_series(1, 300) i"
			);
			const keyOf = async () =>
				(
					await db.query<{ indexdef: string }>(
						"SELECT indexdef FROM pg_indexes WHERE indexname = 'decoded_data_pkey'"
					)
				)[0].indexdef;
			expect(await keyOf()).toMatch(/\(device_id, datapoint_id, "timestamp"\)/);
			expect((await migrate(db, all)).applied).toEqual(all.filter(m => m.id >= "341").map(m => m.id));
			expect(await keyOf()).toMatch(/\("timestamp", device_id, datapoint_id\)/);
			expect(await db.query("SELECT count(*)::int AS n FROM decoded_data")).toEqual([{ n: 300 }]);
			const insert =
				"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4)";
			await expect(db.query(insert, ["2026-12-01T00:00:03Z", 1, 1, 0])).rejects.toThrow(/duplicate key|unique/i);
		} finally {
			await db.close();
		}
	});
});
