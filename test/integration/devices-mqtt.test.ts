/** Optional MQTT output of the processor (MQTT_URL set), on the real Mosquitto and a real PTY. */
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import ProcessorService from "../../services/processor/processor.service";
import { createPtyPair } from "../../services/simulator/pty";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { MQTT_URL, requireServer } from "../helpers/servers";

let broker: ServiceBroker;
const dir = tempDir("devices-mqtt");

beforeAll(async () => {
	await requireServer("mosquitto");
	broker = createTestBroker({
		namespace: uniqueNamespace("devices-mqtt"),
		nodeID: "edge",
		env: { MQTT_URL },
		services: [ProcessorService]
	});
	await broker.start();
});

afterAll(async () => {
	await broker?.stop();
	fs.rmSync(dir, { recursive: true, force: true });
});

describe("processor MQTT output", () => {
	it("publishes each reading on devices/<id>/telemetry/<datapoint>", async () => {
		const deviceId = 700000 + Math.floor(Math.random() * 99999);
		const client = await mqtt.connectAsync(MQTT_URL);
		const got: Array<{ topic: string; body: any }> = [];
		client.on("message", (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
		await client.subscribeAsync(`devices/${deviceId}/telemetry/#`);
		const link = path.join(dir, "serial/by-id/usb-mqtt-test");
		const pty = await createPtyPair(link, path.join(dir, "host"));
		const fd = fs.openSync(pty.hostPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
		try {
			await broker.call("processor.open", {
				deviceId,
				device: link,
				profile: { name: "t", interface: "uart", protocol: "line", baudrate: 9600, format: "kv" },
				config: { auto_reconnect: true, buffer_size: 1024, timeout: 5 },
				datapoints: [
					{ label: "temperature", id: 11 },
					{ label: "humidity", id: 12 }
				]
			});
			await waitFor(
				() => {
					fs.writeSync(fd, "temperature:18.5,humidity:52\n");
					return got.length >= 2;
				},
				10_000,
				"MQTT messages"
			);
			expect(got.find(m => m.topic === `devices/${deviceId}/telemetry/temperature`)?.body).toMatchObject({
				value: 18.5,
				datapointId: 11,
				ts: expect.any(Number)
			});
			expect(got.find(m => m.topic === `devices/${deviceId}/telemetry/humidity`)?.body).toMatchObject({
				value: 52,
				datapointId: 12
			});
		} finally {
			await broker.call("processor.close", { deviceId });
			fs.closeSync(fd);
			await pty.close();
			await client.endAsync();
		}
	});
});
