/**
 * End to end through real servers: Mosquitto (the shipped config) → pipeline ingest → iot.raw
 * (NATS JetStream) → decode (metadata in PostgreSQL) → telemetry.readings → COPY sink →
 * decoded_data. N messages published must give exactly the expected rows and values.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { tempDir, waitFor } from "../helpers/broker";
import { NATS_URL, requireServer } from "../helpers/servers";
import {
	connectMqtt,
	framesFor,
	MACS,
	startMosquitto,
	type Mosquitto,
	startPipelineNode,
	type PipelineNode
} from "./pipeline-support";

describe("pipeline: Mosquitto + NATS JetStream + PostgreSQL", () => {
	let node: PipelineNode;
	let mosq: Mosquitto;
	let broker: ServiceBroker;
	let pg: Client;

	beforeAll(async () => {
		await requireServer("nats");
		await requireServer("mosquitto");
		mosq = await startMosquitto(tempDir("pipeline-mosq"));
		node = await startPipelineNode(
			"pipeline-mqtt",
			async databaseUrl => ({
				TRANSPORTER: NATS_URL,
				DATABASE_URL: databaseUrl,
				MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}`,
				BATCH_SIZE: "500",
				FLUSH_INTERVAL_MS: "50"
			}),
			[...PIPELINE_SERVICES]
		);
		({ broker, pg } = node);
		await waitFor(
			async () => (await broker.call<any>("pipeline-ingest.stats")).broker.subscribed,
			10_000,
			"MQTT subscription"
		);
	});

	afterAll(async () => {
		await node?.stop();
		await mosq?.stop();
	});

	it("stores exactly the published datapoints, with their decoded values", async () => {
		const perController = 150;
		const base = Date.now() - 3600_000;
		const expected = new Map<string, number>();
		const publisher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
		for (const mac of MACS) {
			for (let i = 0; i < perController; i++) {
				const ts = base + i * 1000;
				for (const f of framesFor(mac, i, ts)) {
					for (const [label, v] of Object.entries(f.expected)) expected.set(`${mac}|${label}|${ts}`, v);
					publisher.publish(f.topic, f.payload, { qos: 1 });
				}
			}
		}
		await publisher.endAsync();
		expect(expected.size).toBe(MACS.length * perController * 7);

		const count = async () => Number((await pg.query("SELECT count(*) FROM decoded_data")).rows[0].count);
		await waitFor(async () => (await count()) >= expected.size, 30_000, "all rows in decoded_data");
		// Nothing more arrives later (no duplicates, nothing extra).
		await new Promise(r => setTimeout(r, 500));
		expect(await count()).toBe(expected.size);

		const { rows } = await pg.query(
			`SELECT d.mac, p.label, (extract(epoch from x.timestamp) * 1000)::bigint AS ts, x.value
			 FROM decoded_data x JOIN devices d ON d.id = x.device_id JOIN datapoints p ON p.id = x.datapoint_id`
		);
		let mismatches = 0;
		for (const r of rows) {
			const want = expected.get(`${r.mac}|${r.label}|${r.ts}`);
			if (want == null || Math.abs(want - r.value) > 1e-6) mismatches++;
		}
		expect(rows.length).toBe(expected.size);
		expect(mismatches).toBe(0);
		const dl = await pg.query("SELECT count(*)::int AS n FROM dead_letters");
		expect(dl.rows[0].n).toBe(0);
	});
});
