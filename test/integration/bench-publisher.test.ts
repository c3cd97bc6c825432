/**
 * The benchmarks' load generator (bench/pipeline/publisher.ts through bench/lib/publishers.ts):
 * the lean MQTT client and mqtt.js publish the same frames (topics, payload layout, one
 * timestamp per controller, sensor and frame), each once, at QoS 1 into a real Mosquitto;
 * the lean client also over MQTT 5. No timing is asserted.
 */
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { benchMacs } from "../../bench/lib/controllers";
import { FrameSource } from "../../bench/lib/frames";
import { LeanMqttConnection } from "../../bench/lib/lean-mqtt";
import { spawnPublishers, type PublisherKind } from "../../bench/lib/publishers";
import { tempDir, waitFor } from "../helpers/broker";
import { startMosquitto, type Mosquitto } from "./pipeline-support";

const MACS = benchMacs(6);
const FRAMES = 3000;

describe("bench publisher", () => {
	let mosq: Mosquitto;
	let sub: mqtt.MqttClient;
	const received: { topic: string; payload: string }[] = [];

	beforeAll(async () => {
		mosq = await startMosquitto(tempDir("bench-publisher"));
		sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.plainPort}`);
		sub.on("message", (topic, payload) => received.push({ topic, payload: payload.toString() }));
		await sub.subscribeAsync("stat/+/+/+/+", { qos: 1 });
	});

	afterAll(async () => {
		await sub?.endAsync();
		await mosq?.stop();
	});

	/** Topic → timestamps, for the frames received since `from`. */
	function byTopic(from: number): Map<string, number[]> {
		const out = new Map<string, number[]>();
		for (const m of received.slice(from)) {
			const body = JSON.parse(m.payload) as { timestamp: number; data: string };
			expect(body.data).toMatch(/^[0-9a-f]+$/);
			out.set(m.topic, [...(out.get(m.topic) ?? []), body.timestamp]);
		}
		return out;
	}

	it.each(["lean", "mqttjs"] as PublisherKind[])("%s: every frame acknowledged and delivered once", async kind => {
		const from = received.length;
		const r = await spawnPublishers({
			url: `mqtt://127.0.0.1:${mosq.plainPort}`,
			macs: MACS,
			frames: FRAMES,
			rate: 0,
			qos: 1,
			publisher: kind,
			processes: 2
		});
		expect(r).toMatchObject({ frames: FRAMES, acked: FRAMES });
		await waitFor(() => received.length - from >= FRAMES, 10_000);
		const topics = byTopic(from);
		// 6 controllers × sensors 1 and 2, the same split whichever client published.
		expect(topics.size).toBe(12);
		for (const [, ts] of topics) {
			expect(ts.length).toBe(FRAMES / 12);
			expect(new Set(ts).size).toBe(ts.length);
		}
	});

	it("lean over MQTT 5: PUBACKs counted against the packet ids in flight", async () => {
		const from = received.length;
		const frames = new FrameSource(MACS.slice(0, 2), [1]);
		let acks = 0;
		const errors: Error[] = [];
		const conns = await Promise.all(
			[0, 1].map(k =>
				LeanMqttConnection.connect({
					url: `mqtt://127.0.0.1:${mosq.plainPort}`,
					clientId: `bench-pub-test-${k}`,
					protocolVersion: 5,
					onAcks: n => (acks += n),
					onError: err => errors.push(err)
				})
			)
		);
		for (const c of conns) c.setTopics(frames.topics);
		for (let i = 0; i < 500; i++) {
			const f = frames.frame(i);
			conns[f.controller].publish(f.slot, f.payload);
		}
		for (const c of conns) c.flush();
		await waitFor(() => acks === 500, 10_000);
		expect(conns.map(c => c.inflight)).toEqual([0, 0]);
		expect(errors).toEqual([]);
		await Promise.all(conns.map(c => c.close()));
		await waitFor(() => received.length - from >= 500, 10_000);
		expect(byTopic(from).size).toBe(2);
	});
});
