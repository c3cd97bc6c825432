/**
 * The pipeline's warm-up before it reports ready: the decoder loads the controllers' metadata
 * and decodes synthetic batches, the sink opens the pool's connections and runs its COPY in a
 * rolled-back transaction on each. Readiness (the checks `/ready` runs) stays false until both
 * are done and the channels are subscribed; the warm-up leaves nothing in decoded_data, its
 * rollup or the dead letters. Each warm-up is held up here by a lock on the table it reads or
 * writes (real PostgreSQL, no mock), so the test sees readiness wait for it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { runHealthChecks, type ReadinessReport } from "../../mixins/health";
import { warmUpWrites } from "../../services/shared/pipeline/storage";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";
import { connectMqtt, framesFor, startMosquitto, type Mosquitto } from "./pipeline-support";

const counts = async (pg: Client) =>
	(
		await pg.query(
			`SELECT (SELECT count(*) FROM decoded_data)::int AS data, (SELECT count(*) FROM decoded_data_1m)::int
			 AS rollup, (SELECT count(*) FROM dead_letters)::int AS dead`
		)
	).rows[0];

describe("pipeline warm-up and readiness", () => {
	let mosq: Mosquitto;
	let db: TestDatabase;
	let pg: Client;
	let broker: ServiceBroker | null = null;
	const lockers: Client[] = [];

	beforeAll(async () => {
		await requireServer("nats");
		await requireServer("mosquitto");
		mosq = await startMosquitto(tempDir("warm-up-mosq"));
		db = await createTestDatabase("pipeline_warm_up");
		const setup = await openDatabase({ databaseUrl: db.url, dataDir: tempDir("warm-up-setup") });
		await migrate(setup);
		await setup.close();
		pg = new Client({ connectionString: db.url });
		await pg.connect();
	});

	afterAll(async () => {
		for (const l of lockers) await l.end().catch(() => undefined);
		await broker?.stop();
		await pg?.end();
		await db?.drop();
		await mosq?.stop();
	});

	/** A transaction holding ACCESS EXCLUSIVE on `table` until `release()`. */
	async function lock(table: string): Promise<{ release(): Promise<void> }> {
		const c = new Client({ connectionString: db.url });
		await c.connect();
		lockers.push(c);
		await c.query("BEGIN");
		await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
		return { release: async () => void (await c.query("COMMIT")) };
	}

	it("reports ready only once the decoder and the sink are warm, and stores nothing", async () => {
		const devices = await lock("devices");
		const decoded = await lock("decoded_data");
		broker = createTestBroker({
			namespace: uniqueNamespace("pipeline-warm-up"),
			env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}` },
			services: [...PIPELINE_SERVICES]
		});
		const b = broker;
		const starting = b.start();
		let report: ReadinessReport | null = null;
		const failing = (r: ReadinessReport) =>
			Object.entries(r.checks)
				.filter(([, c]) => !c.ok)
				.map(([name]) => name)
				.sort();

		// Connected, but both warm-ups wait for their table (and so the channels for the broker).
		await waitFor(
			async () => {
				report = await runHealthChecks(b);
				return report.checks.database?.ok && report.checks["warm-up:pipeline-sink"];
			},
			20_000,
			() => `the database connected and the warm-ups running: ${JSON.stringify(report?.checks)}`
		);
		report = await runHealthChecks(b);
		expect(report.ready).toBe(false);
		expect(failing(report)).toEqual(
			expect.arrayContaining(["channels", "warm-up:pipeline-decode", "warm-up:pipeline-sink"])
		);
		expect(report.checks["warm-up:pipeline-sink"].error).toMatch(/warming up/);

		// The decoder's metadata is readable: its warm-up ends, the sink's still waits.
		await devices.release();
		await waitFor(async () => (await runHealthChecks(b)).checks["warm-up:pipeline-decode"]?.ok, 20_000, "decoder");
		report = await runHealthChecks(b);
		expect(report.ready).toBe(false);
		expect(report.checks["warm-up:pipeline-decode"].detail).toMatchObject({ controllers: 4 });
		expect(report.checks["warm-up:pipeline-sink"].ok).toBe(false);

		await decoded.release();
		await starting;
		report = await waitFor(
			async () => {
				const r = await runHealthChecks(b);
				return r.ready ? r : null;
			},
			20_000,
			"ready"
		);
		// All but one of the pool (DB_POOL_MAX 10): the other stays free for other callers meanwhile.
		expect(report.checks["warm-up:pipeline-sink"].detail).toMatchObject({ connections: 9, rows: 10_000 });
		// The warmed connections stay open in the pool.
		const open = await pg.query(
			"SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'fleetmesh'",
			[db.name]
		);
		expect(open.rows[0].n).toBeGreaterThanOrEqual(9);
		expect(await counts(pg)).toEqual({ data: 0, rollup: 0, dead: 0 });

		// And the warmed pipeline stores real frames as before.
		await waitFor(async () => (await b.call<any>("pipeline-ingest.stats")).broker.subscribed, 10_000, "MQTT");
		const publisher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
		const ts = Date.now() - 60_000;
		for (const f of framesFor("aa:bb:cc:dd:ee:01", 1, ts))
			await publisher.publishAsync(f.topic, f.payload, { qos: 1 });
		await publisher.endAsync();
		await waitFor(async () => (await counts(pg)).data === 7, 20_000, "the 7 datapoints stored");
		expect(await counts(pg)).toMatchObject({ data: 7, dead: 0 });
	});

	it("PIPELINE_WARM_UP=0: ready without warming up (both tables locked), and still stores", async () => {
		await broker?.stop();
		const devices = await lock("devices");
		const decoded = await lock("decoded_data");
		let released = false;
		const release = async () => {
			if (released) return;
			released = true;
			await devices.release();
			await decoded.release();
		};
		try {
			broker = createTestBroker({
				namespace: uniqueNamespace("pipeline-no-warm-up"),
				env: {
					TRANSPORTER: NATS_URL,
					DATABASE_URL: db.url,
					MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}`,
					PIPELINE_WARM_UP: "0"
				},
				services: [...PIPELINE_SERVICES]
			});
			const b = broker;
			await b.start();
			// With the tables locked a warm-up would wait: these checks pass only because none ran.
			const report = await runHealthChecks(b);
			expect(report.checks["warm-up:pipeline-decode"]).toMatchObject({
				ok: true,
				detail: { skipped: "PIPELINE_WARM_UP=0" }
			});
			expect(report.checks["warm-up:pipeline-sink"]).toMatchObject({
				ok: true,
				detail: { skipped: "PIPELINE_WARM_UP=0" }
			});
			await release();
			await waitFor(async () => (await b.call<any>("pipeline-ingest.stats")).broker.subscribed, 10_000, "MQTT");
			const before = (await counts(pg)).data;
			const publisher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
			for (const f of framesFor("aa:bb:cc:dd:ee:02", 1, Date.now() - 30_000))
				await publisher.publishAsync(f.topic, f.payload, { qos: 1 });
			await publisher.endAsync();
			await waitFor(async () => (await counts(pg)).data > before, 20_000, "the datapoints stored");
		} finally {
			await release();
		}
	});
});

describe("warmUpWrites", () => {
	for (const kind of ["postgres", "pglite"] as const) {
		it(`runs the write path and rolls it back (${kind})`, async () => {
			const tdb = kind === "postgres" ? await createTestDatabase("pipeline_warm_up_writes") : null;
			const db: Database = await openDatabase({ databaseUrl: tdb?.url ?? null, dataDir: tempDir("warm-writes") });
			try {
				await migrate(db);
				expect(await warmUpWrites(db, 3)).toBe(kind === "postgres" ? 3 : 1);
				// Never the whole pool (10 connections).
				if (kind === "postgres") expect(await warmUpWrites(db, 50)).toBe(9);
				const [r] = await db.query<{ data: number; rollup: number }>(
					"SELECT (SELECT count(*) FROM decoded_data)::int AS data, " +
						"(SELECT count(*) FROM decoded_data_1m)::int AS rollup"
				);
				expect(r).toEqual({ data: 0, rollup: 0 });
			} finally {
				await db.close();
				await tdb?.drop();
			}
		});
	}
});
