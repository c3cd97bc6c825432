/**
 * The ingest's buffer is smaller than the broker's in-flight window (INGEST_MAX_BUFFERED=40
 * against Mosquitto's max_inflight_messages 8000) while iot.raw is unavailable (NATS killed) and
 * 48 QoS 1 messages arrive. The ingest's MQTT 5 Receive Maximum (half its buffer: 20) keeps the
 * rest in the broker: the ingest holds 20, drops nothing, and every datapoint is stored once NATS
 * is back.
 *
 * Without it the broker sent all 48 at once, the ingest dropped the oldest unacknowledged, and
 * Mosquitto, which resends only on a new connection, kept them in its window: never stored.
 * (Kept small on purpose: Mosquitto 2.0.11 sends more than the Receive Maximum once acks come,
 * so the buffer must also hold what is left after the first window; docs/pipeline.md.)
 */
import path from "node:path";
import { Client } from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { countRows, DATAPOINTS_PER_ITERATION, publishFrames, startNats, type NatsServer } from "../helpers/chaos";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { startNode, type NodeProcess } from "../helpers/node-process";
import { requireServer } from "../helpers/servers";
import { startMosquitto, type Mosquitto } from "../integration/pipeline-support";

const ITERATIONS = 6;

describe("ingest drops at its bound while NATS is down", () => {
	let nats: NatsServer | null = null;
	let mosq: Mosquitto | null = null;
	let db: TestDatabase | null = null;
	let node: NodeProcess | null = null;
	let pg: Client | null = null;

	afterAll(async () => {
		await node?.kill("SIGKILL");
		await pg?.end();
		await nats?.kill("SIGTERM");
		await mosq?.stop();
		await db?.drop();
	});

	it("holds one Receive Maximum of messages, drops none, and stores every datapoint once", async () => {
		await requireServer("postgres");
		const dir = tempDir("ingest-window");
		nats = await startNats(dir);
		mosq = await startMosquitto(tempDir("ingest-window-mosq"));
		db = await createTestDatabase("ingest_window");
		node = startNode({
			NAMESPACE: uniqueNamespace("ingest-window"),
			NODEID: "edge",
			TRANSPORTER: nats.url,
			DATABASE_URL: db.url,
			DATA_DIR: path.join(dir, "edge"),
			SIMULATE: "0",
			SERVICES: "pipeline",
			MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}`,
			INGEST_MAX_BUFFERED: "40",
			LOGLEVEL: "info"
		});
		await node.waitForOutput(/ServiceBroker with \d+ service\(s\) started successfully/, 60_000);
		await node.waitForOutput(/mqtt: subscribed to/, 20_000);
		pg = new Client({ connectionString: db.url });
		await pg.connect();

		await nats.kill("SIGKILL");
		const pub = publishFrames(`mqtt://127.0.0.1:${mosq.plainPort}`, ITERATIONS, 2);
		await pub.done; // Mosquitto acknowledged every message: from here on they are the system's.
		// The ingest tries iot.raw and fails (its 5 s JetStream timeout) holding one window, no more.
		await node.waitForOutput(/channel iot\.raw: send failed \([^)]*\); 20 items kept for retry/, 30_000);
		await nats.start();

		const sent = ITERATIONS * DATAPOINTS_PER_ITERATION;
		await waitFor(
			async () => ((await countRows(pg!)).rows >= sent ? true : undefined),
			90_000,
			() => `${sent} rows; the node said:\n${node!.output().slice(-4000)}`
		);
		await pub.end();
		await new Promise(r => setTimeout(r, 500));
		const c = await countRows(pg);
		expect(c.rows).toBe(sent);
		expect(c.distinct).toBe(sent);
		expect(c.incomplete).toBe(0);
		expect(node.output()).not.toMatch(/pipeline ingest: dropped/);
		expect(node.child.exitCode).toBeNull();
	}, 180_000);
});
