/**
 * Bad input never crashes the node nor disappears: each class ends in dead_letters with its
 * reason, through the real path (MQTT on the embedded broker's loopback listener → iot.raw on
 * NATS JetStream → decode with the PostgreSQL metadata). After the metadata is fixed, replay
 * stores the rows of the letters that now decode and leaves the rest open with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { waitFor } from "../helpers/broker";
import { freePort } from "../helpers/ports";
import { NATS_URL, requireServer } from "../helpers/servers";
import { connectMqtt, framesFor, startPipelineNode, type PipelineNode } from "./pipeline-support";
import { packReadings, type Reading } from "../../services/shared/contracts";

describe("pipeline dead letters and replay", () => {
	let node: PipelineNode;
	let broker: ServiceBroker;
	let pg: Client;

	beforeAll(async () => {
		await requireServer("nats");
		node = await startPipelineNode(
			"pipeline-dl",
			async databaseUrl => ({
				TRANSPORTER: NATS_URL,
				DATABASE_URL: databaseUrl,
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				FLUSH_INTERVAL_MS: "20"
			}),
			[...PIPELINE_SERVICES]
		);
		({ broker, pg } = node);
	});

	afterAll(async () => {
		await node?.stop();
	});

	it("records every bad-input class with its reason, then replays what the fixed metadata decodes", async () => {
		const stats = await broker.call<any>("pipeline-ingest.stats");
		const c = await connectMqtt(`mqtt://127.0.0.1:${stats.broker.plainPort}`);
		const ts = Date.now() - 120_000;
		const [good] = framesFor("aa:bb:cc:dd:ee:01", 1, ts);
		const [unknownMac] = framesFor("aa:bb:cc:dd:ee:99", 1, ts);
		const frame = JSON.parse(good.payload).data as string;
		const cases: [string, string, string][] = [
			["UNKNOWN_MAC", unknownMac.topic, unknownMac.payload],
			["BAD_HEX", good.topic, JSON.stringify({ timestamp: ts + 1, data: "zz" + frame.slice(2) })],
			["WRONG_LENGTH", good.topic, JSON.stringify({ timestamp: ts + 2, data: frame.slice(0, 12) })],
			[
				"UNKNOWN_SENSOR",
				good.topic.replace("sensor-1", "sensor-7"),
				JSON.stringify({ timestamp: ts + 3, data: "0102030405060708" })
			],
			["TIMESTAMP_OUT_OF_RANGE", good.topic, JSON.stringify({ timestamp: Date.UTC(1999, 11, 31), data: frame })],
			["TIMESTAMP_OUT_OF_RANGE", good.topic, JSON.stringify({ timestamp: Date.now() + 86_400_000, data: frame })],
			["BAD_PAYLOAD", good.topic, "not json at all"],
			["TOO_LARGE", good.topic, JSON.stringify({ timestamp: ts + 4, data: "00".repeat(2000) })]
		];
		for (const [, topic, payload] of cases) await c.publishAsync(topic, payload, { qos: 1 });
		// A good message in the same stream is stored as usual.
		await c.publishAsync(good.topic, good.payload, { qos: 1 });
		await c.endAsync();
		// A malformed reading from another publisher of telemetry.readings (the sink's class).
		await broker.sendToChannel("telemetry.readings", {
			readings: [{ deviceId: 1, datapointId: 1, value: "hot", ts }]
		});
		// The same in the packed shape (it travels unpacked beside the entries), and a packed message cut short.
		await broker.sendToChannel(
			"telemetry.readings",
			packReadings([{ deviceId: 1, datapointId: 1, value: "cold", ts } as unknown as Reading])
		);
		await broker.sendToChannel("telemetry.readings", { v: 2, packed: Buffer.alloc(30).toString("base64") });

		const list = await waitFor(
			async () => {
				const r = await broker.call<any, any>("pipeline-decode.deadLetters", {});
				return r.total >= cases.length + 3 ? r : null;
			},
			15_000,
			"dead letters"
		);
		expect(list.total).toBe(cases.length + 3);
		const decodeLetters = list.items.filter((r: any) => r.source === "pipeline.decode");
		expect(decodeLetters.map((r: any) => r.reason.split(":")[0]).sort()).toEqual(cases.map(c => c[0]).sort());
		for (const r of decodeLetters) {
			// An oversized payload is kept truncated to the 2560-byte limit.
			const sent = cases.find(
				([, topic, payload]) =>
					topic === r.topic &&
					(payload === r.payload || (payload.length > 2560 && payload.startsWith(r.payload)))
			);
			expect(sent, `raw message kept for ${r.reason}`).toBeDefined();
			expect(r.reason.startsWith(sent![0])).toBe(true);
		}
		const sinkLetters = list.items.filter((r: any) => r.source === "pipeline.sink").map((r: any) => r.reason);
		expect(sinkLetters.sort()).toEqual([
			expect.stringMatching(/^BAD_BATCH: packed telemetry.readings is 30 bytes, not a multiple of 24/),
			expect.stringMatching(/^BAD_READING: value "cold"/),
			expect.stringMatching(/^BAD_READING: value "hot"/)
		]);
		// The good message: 3 rows.
		await waitFor(
			async () => (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n === 3,
			10_000,
			"good rows"
		);

		const byReason = await broker.call<any, any>("pipeline-decode.deadLetters", { reason: "UNKNOWN_MAC" });
		expect(byReason.total).toBe(1);
		// Paged by key: pages of two walk the same letters in id order, each with the total.
		const seen: number[] = [];
		let cursor: string | undefined;
		do {
			const page = await broker.call<any, any>("pipeline-decode.deadLetters", { limit: 2, cursor });
			expect(page.total).toBe(list.total);
			expect(page.items.length).toBeLessThanOrEqual(2);
			seen.push(...page.items.map((r: any) => r.id));
			cursor = page.nextCursor ?? undefined;
		} while (cursor && seen.length <= list.total);
		expect(seen).toEqual(list.items.map((r: any) => r.id));
		expect(list.items[0].createdAt).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);

		// A replay before any fix changes nothing but counts the attempt.
		const first = await broker.call<any, any>("pipeline-decode.replayDeadLetters", {});
		expect(first).toMatchObject({ replayed: 0, failed: cases.length + 3, rowsStored: 0 });

		// Fix the metadata: register controller …:99 like …:01, and give controller 01 a sensor 7.
		await pg.query(
			`INSERT INTO devices (uid, name, type, mac) VALUES ('f2-aabbccddee99', 'late controller', ` +
				`'faces2-controller', 'aa:bb:cc:dd:ee:99')`
		);
		await pg.query(`INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length)
			SELECT (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:99'), sensor, name, frame_length
			FROM pipeline_sensors WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01')`);
		await pg.query(`INSERT INTO datapoints (device_id, label, unit, decoding)
			SELECT (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:99'), label, unit, decoding FROM datapoints
			WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01')`);
		await pg.query(
			`INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length) SELECT id, 7, 'counter', ` +
				`8 FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01'`
		);
		await pg.query(
			`INSERT INTO datapoints (device_id, label, unit, decoding) SELECT id, 'counter', '', ` +
				`'{"sensor": 7, "offset": 4, "type": "uint32be"}' FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01'`
		);

		const second = await broker.call<any, any>("pipeline-decode.replayDeadLetters", {});
		expect(second).toMatchObject({ replayed: 2, failed: cases.length + 1, rowsStored: 4 });
		const counter = await pg.query(
			`SELECT x.value FROM decoded_data x JOIN datapoints p ON p.id = x.datapoint_id WHERE p.label = 'counter'`
		);
		expect(counter.rows).toEqual([{ value: 0x05060708 }]);
		const late = await pg.query(
			`SELECT count(*)::int AS n FROM decoded_data x JOIN devices d ON d.id = x.device_id WHERE ` +
				`d.mac = 'aa:bb:cc:dd:ee:99'`
		);
		expect(late.rows[0].n).toBe(3);

		const open = await broker.call<any, any>("pipeline-decode.deadLetters", {});
		expect(open.total).toBe(cases.length + 1);
		expect(open.items.every((r: any) => r.replayCount === 2 && r.lastError)).toBe(true);
		const done = await broker.call<any, any>("pipeline-decode.deadLetters", { open: false });
		expect(done.items.filter((r: any) => r.replayedAt).length).toBe(2);

		// Replaying again stores nothing twice.
		const third = await broker.call<any, any>("pipeline-decode.replayDeadLetters", {});
		expect(third.replayed).toBe(0);
		expect((await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n).toBe(3 + 4);
	});

	it("decodes a controller registered after its first frames: the metadata cache follows the registry", async () => {
		const stats = await broker.call<any, any>("pipeline-ingest.stats", {});
		const c = await connectMqtt(`mqtt://127.0.0.1:${stats.broker.plainPort}`);
		const mac = "aa:bb:cc:dd:ee:98";
		const ts = Date.now() - 60_000;
		const [early] = framesFor(mac, 1, ts);
		await c.publishAsync(early.topic, early.payload, { qos: 1 });
		await waitFor(
			async () =>
				(await broker.call<any, any>("pipeline-decode.deadLetters", { reason: "UNKNOWN_MAC" })).items.some(
					(r: any) => r.topic === early.topic
				),
			10_000,
			"unknown-MAC letter"
		);

		// Registered by plain SQL (as the manager or an operator would): no event, no replay.
		await pg.query(
			`INSERT INTO devices (uid, name, type, mac) VALUES ('f2-aabbccddee98', 'new controller', ` +
				`'faces2-controller', $1)`,
			[mac]
		);
		await pg.query(
			`INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length)
			SELECT (SELECT id FROM devices WHERE mac = $1), sensor, name, frame_length FROM pipeline_sensors
			WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01')`,
			[mac]
		);
		await pg.query(
			`INSERT INTO datapoints (device_id, label, unit, decoding)
			SELECT (SELECT id FROM devices WHERE mac = $1), label, unit, decoding FROM datapoints
			WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01')`,
			[mac]
		);

		const [later] = framesFor(mac, 2, ts + 1000);
		await c.publishAsync(later.topic, later.payload, { qos: 1 });
		await c.endAsync();
		await waitFor(
			async () =>
				(
					await pg.query(
						"SELECT count(*)::int AS n FROM decoded_data x JOIN devices d ON d.id = " +
							"x.device_id WHERE d.mac = $1",
						[mac]
					)
				).rows[0].n === 3,
			10_000,
			"rows of the newly registered controller (well before the 60 s cache TTL)"
		);
	});

	it("validates the parameters of its actions", async () => {
		await expect(broker.call("pipeline-decode.deadLetters", { limit: 0 })).rejects.toMatchObject({
			type: "VALIDATION_ERROR"
		});
		await expect(broker.call("pipeline-decode.replayDeadLetters", { ids: ["x"] })).rejects.toMatchObject({
			type: "VALIDATION_ERROR"
		});
	});
});
