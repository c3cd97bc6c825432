/**
 * Edge and cloud as two OS processes started the way `npm start` starts a node, over real
 * NATS: "pi" runs detector + processor + simulator with SIMULATE=1 (the simulator plugs its
 * virtual devices at start, as a new user sees them), "cloud" runs the manager on PostgreSQL.
 * The cloud's pipeline sink stores the readings in decoded_data; SIGKILL of "cloud" leaves the
 * streams on "pi" running.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import { readingsOf, type Reading } from "../../services/shared/contracts";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { NATS_URL, requireServer } from "../helpers/servers";

const namespace = uniqueNamespace("devices-edge");
const svc = (p: string) => path.join(ROOT, "services", p);
let db: TestDatabase;
let pg: Client;
let pi: NodeProcess;
let cloud: NodeProcess;
let probe: ServiceBroker;
const received: Reading[] = [];

beforeAll(async () => {
	await requireServer("nats");
	db = await createTestDatabase("devices_edge");
	pg = new Client({ connectionString: db.url });
	await pg.connect();
	const common = { NAMESPACE: namespace, TRANSPORTER: NATS_URL, SERVICEDIR: ROOT, PORT: "0", LOGLEVEL: "info" };
	// The cloud also runs the pipeline's sink: readings end in decoded_data.
	cloud = startNode({
		...common,
		NODEID: "cloud",
		SERVICES: [svc("manager/manager.service.ts"), svc("pipeline-sink/pipeline-sink.service.ts")].join(","),
		DATABASE_URL: db.url,
		DATA_DIR: tempDir("edge-cloud")
	});
	pi = startNode({
		...common,
		NODEID: "pi",
		SERVICES: [
			svc("detector/detector.service.ts"),
			svc("processor/processor.service.ts"),
			svc("simulator/simulator.service.ts")
		].join(","),
		SIMULATE: "1",
		DETECTOR_SOURCE: "simulated",
		DATA_DIR: tempDir("edge-pi")
	});
	probe = createTestBroker({
		namespace,
		nodeID: "probe",
		env: { TRANSPORTER: NATS_URL },
		services: [
			{
				name: "readings-probe",
				channels: {
					"telemetry.readings": {
						group: "devices-edge-test",
						handler: (p: unknown) => void received.push(...(readingsOf(p) as Reading[]))
					}
				}
			} as ServiceSchema
		]
	});
	await probe.start();
});

afterAll(async () => {
	await probe?.stop();
	await Promise.all([pi?.kill("SIGTERM"), cloud?.kill("SIGTERM")]);
	await pg?.end();
	await db?.drop();
});

describe("edge node with simulated devices, manager in the cloud", () => {
	it("the simulator's devices stream on first start; SIGKILL of the cloud node doesn't stop them", async () => {
		const expected = ["Arduino Uno", "BME280", "RS485 Modbus temperature/humidity sensor", "u-blox 7 GPS"];
		const rows = await waitFor(
			async () => {
				const r = (
					await pg.query("SELECT id, name, node_id FROM devices WHERE status = 'streaming' ORDER BY name")
				).rows;
				return r.length === 4 ? r : null;
			},
			// A hang bound: two nodes start from the TypeScript sources, which on a loaded CI
			// machine running three test files at once took longer than 45 s.
			90_000,
			() =>
				`4 simulated devices streaming\n--- pi ---\n${pi.output().slice(-2000)}\n--- cloud ` +
				`---\n${cloud.output().slice(-2000)}`
		);
		expect(rows.map(r => r.name)).toEqual(expected);
		expect(rows.every(r => r.node_id === "pi")).toBe(true);
		const ids = rows.map(r => r.id);
		await waitFor(
			() => ids.every(id => received.some(r => r.deviceId === id)),
			15_000,
			"readings from every device"
		);

		// Stored by the pipeline sink with the registry's datapoint ids.
		await waitFor(
			async () => {
				const r = (
					await pg.query(
						"SELECT DISTINCT d.device_id, p.label FROM decoded_data d JOIN datapoints p ON " +
							"p.id = d.datapoint_id AND p.device_id = d.device_id"
					)
				).rows;
				return (
					ids.every(id => r.some(x => x.device_id === id)) &&
					r.some(x => x.label === "latitude") &&
					r.some(x => x.label === "pressure")
				);
			},
			20_000,
			"readings in decoded_data"
		);

		await cloud.kill("SIGKILL");
		const uno = rows.find(r => r.name === "Arduino Uno")!.id;
		const before = received.filter(r => r.deviceId === uno).length;
		await new Promise(r => setTimeout(r, 3000));
		// The Uno prints 2 lines/s with 3 values each.
		expect(received.filter(r => r.deviceId === uno).length - before).toBeGreaterThanOrEqual(6);
		expect(pi.output()).toMatch(/detector: source simulated/);
	}, 150_000);
});
