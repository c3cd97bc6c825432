/**
 * Two nodes over real NATS: detector + processor + simulator on "pi", manager on "cloud".
 * The manager's open call lands on "pi"; stopping "cloud" leaves the running stream alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import type { Reading, TelemetryBatch } from "../../services/shared/contracts";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";

let db: TestDatabase;
let pi: ServiceBroker;
let cloud: ServiceBroker;
let pg: Client;
const received: Reading[] = [];
const ns = uniqueNamespace("devices-2n");

const consumer: ServiceSchema = {
	name: "readings-probe",
	channels: {
		"telemetry.readings": {
			group: "devices-2n-test",
			handler(payload: TelemetryBatch) {
				received.push(...payload.readings);
			}
		}
	}
} as ServiceSchema;

beforeAll(async () => {
	await requireServer("nats");
	db = await createTestDatabase("devices_2n");
	pg = new Client({ connectionString: db.url });
	await pg.connect();
	const env = { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, DETECTOR_SOURCE: "simulated", SIMULATE: "0" };
	pi = createTestBroker({ namespace: ns, nodeID: "pi", env, services: [DetectorService, ProcessorService, SimulatorService, consumer] });
	cloud = createTestBroker({ namespace: ns, nodeID: "cloud", env, services: [ManagerService] });
	await Promise.all([pi.start(), cloud.start()]);
	await pi.waitForServices(["manager"], 15_000);
	await cloud.waitForServices(["processor", "detector"], 15_000);
});

afterAll(async () => {
	await pi?.stop();
	await cloud?.stop().catch(() => undefined);
	await pg?.end();
	await db?.drop();
});

describe("detector and processor on the Pi, manager in the cloud", () => {
	it("opens the device on the node that holds it, and keeps streaming when the manager's node goes away", async () => {
		await pi.call("simulator.plug", { kind: "arduino-uno", id: "uno", serial: "UNO-2N", rateHz: 20, lines: ["temperature:19.5,humidity:33"] });
		const row = await waitFor(async () => (await pg.query("SELECT * FROM devices WHERE serial = 'UNO-2N' AND status = 'streaming'")).rows[0], 20_000, "streaming");
		expect(row.node_id).toBe("pi");
		// The session lives in the processor of "pi", and the manager has no processor of its own.
		const onPi = await cloud.call<any, any>("processor.list", {}, { nodeID: "pi" });
		expect(onPi.nodeID).toBe("pi");
		expect(onPi.devices.map((d: any) => d.deviceId)).toContain(row.id);
		expect(cloud.registry.getServiceList({ onlyLocal: true }).map((s: any) => s.name)).not.toContain("processor");

		await waitFor(() => received.some(r => r.deviceId === row.id && r.value === 19.5), 10_000, "readings");

		// The cloud node dies: the stream on the Pi goes on.
		await cloud.stop();
		const before = received.filter(r => r.deviceId === row.id).length;
		await new Promise(r => setTimeout(r, 1500));
		const after = received.filter(r => r.deviceId === row.id).length;
		expect(after - before).toBeGreaterThanOrEqual(15);
		const list = await pi.call<any, any>("processor.list", {});
		expect(list.devices.find((d: any) => d.deviceId === row.id).status).toBe("streaming");
		await pi.call("simulator.unplug", { id: "uno" });
	});
});
