/**
 * MQTT_MAX_PACKET_BYTES: a PUBLISH over the limit is refused before it is buffered, by the
 * embedded aedes broker (counted in pipeline-ingest.stats) and by Mosquitto with the shipped
 * config (max_packet_size); frames under it still flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/broker";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { freePort } from "../helpers/ports";
import {
	connectMqtt,
	framesFor,
	MACS,
	startMosquitto,
	startPipelineNode,
	type Mosquitto,
	type PipelineNode
} from "./pipeline-support";

const LIMIT = 65_536;

/** Publishes at QoS 1; resolves "acked" or "closed" (the broker dropped the connection). */
function publishOnce(
	client: Awaited<ReturnType<typeof connectMqtt>>,
	topic: string,
	payload: Buffer | string
): Promise<"acked" | "closed"> {
	return new Promise(resolve => {
		client.once("close", () => resolve("closed"));
		client.publish(topic, payload, { qos: 1 }, err => resolve(err ? "closed" : "acked"));
	});
}

describe("MQTT packet size limit", () => {
	let node: PipelineNode;
	let mosq: Mosquitto;

	beforeAll(async () => {
		node = await startPipelineNode(
			"pipeline-packet",
			async databaseUrl => ({
				DATABASE_URL: databaseUrl,
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				MQTT_MAX_PACKET_BYTES: String(LIMIT),
				FLUSH_INTERVAL_MS: "20"
			}),
			[...PIPELINE_SERVICES]
		);
		mosq = await startMosquitto(tempDir("pipeline-packet-mosq"));
	});

	afterAll(async () => {
		await node?.stop();
		await mosq?.stop();
	});

	it("the embedded broker refuses a packet over MQTT_MAX_PACKET_BYTES, counts it, and keeps serving", async () => {
		const stats = await node.broker.call<{ broker: { plainPort: number } }>("pipeline-ingest.stats");
		const url = `mqtt://127.0.0.1:${stats.broker.plainPort}`;
		const before = process.memoryUsage().rss;
		const big = await connectMqtt(url);
		expect(
			await publishOnce(big, "stat/f2-aabbccddee01/sensor-mode/normal/sensor-1", Buffer.alloc(LIMIT * 4, 0x41))
		).toBe("closed");
		await big.endAsync(true).catch(() => undefined);
		await waitFor(
			async () => (await node.broker.call<any>("pipeline-ingest.stats")).broker.refusedOversize === 1,
			5000,
			"refusal counted"
		);
		expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);

		const ok = await connectMqtt(url);
		const [frame] = framesFor(MACS[0], 1, Date.now() - 60_000);
		expect(await publishOnce(ok, frame.topic, frame.payload)).toBe("acked");
		await ok.endAsync();
		await waitFor(
			async () => (await node.pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n === 3,
			10_000,
			"the small frame stored"
		);
	});

	it("Mosquitto with the shipped config refuses a packet over max_packet_size (262144)", async () => {
		const url = `mqtt://127.0.0.1:${mosq.plainPort}`;
		const big = await connectMqtt(url);
		expect(
			await publishOnce(big, "stat/f2-aabbccddee01/sensor-mode/normal/sensor-1", Buffer.alloc(300_000, 0x41))
		).toBe("closed");
		await big.endAsync(true).catch(() => undefined);
		const ok = await connectMqtt(url);
		expect(
			await publishOnce(ok, "stat/f2-aabbccddee01/sensor-mode/normal/sensor-1", Buffer.alloc(200_000, 0x41))
		).toBe("acked");
		await ok.endAsync();
	});
});
