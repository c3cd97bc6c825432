/**
 * The sink in its own OS process (SERVICES=pipeline-sink, started as `npm start` starts a node)
 * is killed with SIGKILL mid-stream and started again, while controllers keep publishing to
 * Mosquitto and this test's node keeps ingesting and decoding into JetStream. Afterwards
 * decoded_data holds every published datapoint exactly once: what the dead sink had taken
 * but not committed is redelivered (after JetStream's ack wait), what it had committed but
 * not acknowledged is redelivered too and skipped by the primary key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PipelineDecodeService, PipelineIngestService } from "../helpers/pipeline-services";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { startNode, type NodeProcess } from "../helpers/node-process";
import { NATS_URL, requireServer } from "../helpers/servers";
import { connectMqtt, framesFor, MACS, startMosquitto, type Mosquitto } from "../integration/pipeline-support";

describe("pipeline sink node killed and restarted mid-stream", () => {
	const namespace = uniqueNamespace("pipeline-restart");
	let db: TestDatabase;
	let mosq: Mosquitto;
	let ingest: ServiceBroker;
	const sinks: NodeProcess[] = [];

	const startSink = (n: number) => {
		const node = startNode({
			NAMESPACE: namespace,
			NODEID: `sink-${n}`,
			TRANSPORTER: NATS_URL,
			DATABASE_URL: db.url,
			SERVICES: "pipeline-sink",
			BATCH_SIZE: "500",
			FLUSH_INTERVAL_MS: "50",
			DATA_DIR: tempDir("pipeline-sink"),
			PORT: "0",
			SIMULATE: "0",
			LOGLEVEL: "info"
		});
		sinks.push(node);
		return node;
	};

	beforeAll(async () => {
		await requireServer("nats");
		await requireServer("mosquitto");
		db = await createTestDatabase("pipeline_restart");
		mosq = await startMosquitto(tempDir("pipeline-restart"));
		ingest = createTestBroker({
			namespace,
			nodeID: "ingest",
			env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}` },
			services: [PipelineIngestService, PipelineDecodeService]
		});
		await ingest.start();
		await waitFor(
			async () => (await ingest.call<any>("pipeline-ingest.stats")).broker.subscribed,
			10_000,
			"MQTT subscription"
		);
	});

	afterAll(async () => {
		for (const s of sinks) await s.kill("SIGKILL");
		await ingest?.stop();
		await mosq?.stop();
		await db?.drop();
	});

	it("stores every row exactly once", async () => {
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		const count = async () => (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n as number;
		try {
			let sink = startSink(1);
			await sink.waitForOutput(/pipeline sink: decoded_data is/, 30_000);
			const publisher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
			const iterations = 600;
			const base = Date.now() - 3600_000;
			let storedAtKill = -1;
			for (let i = 0; i < iterations; i++) {
				for (const mac of MACS)
					for (const f of framesFor(mac, i, base + i * 1000))
						publisher.publish(f.topic, f.payload, { qos: 1 });
				if (i === 200) {
					// Kill only once the sink is really writing, so the kill lands mid-stream.
					await waitFor(async () => (await count()) > 0, 20_000, "first rows from sink 1");
					await sink.kill("SIGKILL");
					storedAtKill = await count();
				}
				if (i === 400) {
					sink = startSink(2);
					await sink.waitForOutput(/pipeline sink: decoded_data is/, 30_000);
				}
				await new Promise(r => setTimeout(r, 5));
			}
			await publisher.endAsync();
			const expected = iterations * MACS.length * 7;
			expect(storedAtKill).toBeGreaterThan(0);
			expect(storedAtKill).toBeLessThan(expected);

			// Redelivery of what sink 1 held waits out JetStream's ack_wait (30 s).
			await waitFor(async () => (await count()) >= expected, 90_000, `${expected} rows`);
			await new Promise(r => setTimeout(r, 1000));
			expect(await count()).toBe(expected);
			const incomplete = await pg.query(
				"SELECT count(*)::int AS n FROM (SELECT device_id, timestamp FROM decoded_data GROUP BY 1, " +
					"2 HAVING count(*) <> 7) x"
			);
			expect(incomplete.rows[0].n).toBe(0);
			const keys = await pg.query("SELECT count(DISTINCT (device_id, timestamp))::int AS n FROM decoded_data");
			expect(keys.rows[0].n).toBe(iterations * MACS.length);
		} finally {
			await pg.end();
		}
	}, 180_000);
});
