/**
 * PostgreSQL trouble mid-stream: every connection of the pipeline killed with
 * pg_terminate_backend, then the database refusing connections for a few seconds
 * (ALLOW_CONNECTIONS false, the closest to "server down" on a shared server). The sink retries
 * with backoff, the backlog waits unacknowledged in JetStream, and afterwards every row is
 * stored exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, PG_ADMIN_URL, requireServer } from "../helpers/servers";
import { connectMqtt, framesFor, MACS, startMosquitto, type Mosquitto } from "./pipeline-support";

describe("pipeline sink: PostgreSQL connections killed and refused mid-stream", () => {
	let db: TestDatabase;
	let mosq: Mosquitto;
	let broker: ServiceBroker;
	let admin: Client;

	beforeAll(async () => {
		await requireServer("nats");
		await requireServer("mosquitto");
		db = await createTestDatabase("pipeline_outage");
		mosq = await startMosquitto(tempDir("pipeline-outage"));
		broker = createTestBroker({
			namespace: uniqueNamespace("pipeline-outage"),
			env: {
				TRANSPORTER: NATS_URL,
				DATABASE_URL: db.url,
				MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}`,
				BATCH_SIZE: "200",
				FLUSH_INTERVAL_MS: "20"
			},
			services: [...PIPELINE_SERVICES]
		});
		await broker.start();
		await waitFor(
			async () => (await broker.call<any>("pipeline-ingest.stats")).broker.subscribed,
			10_000,
			"MQTT subscription"
		);
		admin = new Client({ connectionString: PG_ADMIN_URL });
		await admin.connect();
	});

	afterAll(async () => {
		await admin?.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
		await admin?.end();
		await broker?.stop();
		await mosq?.stop();
		await db?.drop();
	});

	const kill = () =>
		admin.query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1", [
			db.name
		]);

	it("loses nothing and duplicates nothing", async () => {
		const publisher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
		const iterations = 300;
		const base = Date.now() - 3600_000;
		let killed = 0;
		for (let i = 0; i < iterations; i++) {
			for (const mac of MACS)
				for (const f of framesFor(mac, i, base + i * 1000)) publisher.publish(f.topic, f.payload, { qos: 1 });
			if (i === 60 || i === 120) killed += (await kill()).rows[0].n;
			if (i === 150) {
				await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
				killed += (await kill()).rows[0].n;
			}
			await new Promise(r => setTimeout(r, 10));
		}
		await publisher.endAsync();
		expect(killed).toBeGreaterThan(0);

		// The database is still refusing: the pipeline waits it out, not losing or dead-lettering.
		// Which stage waits depends on timing: the sink, when it holds rows at the moment of the
		// refusal, or the decoder, which reads the registry's version for every batch.
		await waitFor(
			async () =>
				(await broker.call<any>("pipeline-sink.stats")).sink.retries > 0 ||
				(await broker.call<any>("pipeline-decode.stats")).retries > 0,
			30_000,
			"sink or decoder retries"
		);
		await new Promise(r => setTimeout(r, 2000));
		await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);

		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			const expected = iterations * MACS.length * 7;
			await waitFor(
				async () => (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n >= expected,
				45_000,
				`${expected} rows`
			);
			await new Promise(r => setTimeout(r, 500));
			expect((await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n).toBe(expected);
			// Every (device, time) has all of its datapoints: nothing partially lost.
			const perKey = await pg.query(
				"SELECT count(*)::int AS n FROM (SELECT device_id, timestamp FROM decoded_data GROUP BY 1, " +
					"2 HAVING count(*) <> 7) x"
			);
			expect(perKey.rows[0].n).toBe(0);
			expect((await pg.query("SELECT count(*)::int AS n FROM dead_letters")).rows[0].n).toBe(0);
		} finally {
			await pg.end();
		}
	}, 120_000);
});
