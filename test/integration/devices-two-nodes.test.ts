/**
 * Two nodes over real NATS: detector + processor + simulator on "pi", manager on "cloud".
 * The manager's open call lands on "pi"; stopping "cloud" leaves the running stream alone.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import { readingsOf, type Reading } from "../../services/shared/contracts";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
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
			handler(payload: unknown) {
				received.push(...(readingsOf(payload) as Reading[]));
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
	pi = createTestBroker({
		namespace: ns,
		nodeID: "pi",
		env,
		services: [DetectorService, ProcessorService, SimulatorService, consumer]
	});
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
	it("opens the device on the node that holds it; keeps streaming when the manager's node goes away", async () => {
		await pi.call("simulator.plug", {
			kind: "arduino-uno",
			id: "uno",
			serial: "UNO-2N",
			rateHz: 20,
			lines: ["temperature:19.5,humidity:33"]
		});
		const row = await waitFor(
			async () =>
				(await pg.query("SELECT * FROM devices WHERE serial = 'UNO-2N' AND status = 'streaming'")).rows[0],
			20_000,
			"streaming"
		);
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
		const session = list.devices.find((d: any) => d.deviceId === row.id);
		expect(session.status).toBe("streaming");

		// A manager comes back after missing status reports: it catches up without reopening the stream.
		await pg.query("UPDATE devices SET status = 'configured' WHERE id = $1", [row.id]);
		const cloud2 = createTestBroker({
			namespace: ns,
			nodeID: "cloud-2",
			env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, SIMULATE: "0" },
			services: [ManagerService]
		});
		await cloud2.start();
		try {
			await waitFor(
				async () =>
					(await pg.query("SELECT status FROM devices WHERE id = $1", [row.id])).rows[0].status ===
					"streaming",
				15_000,
				"status caught up"
			);
			const again = (await pi.call<any, any>("processor.list", {})).devices.find(
				(d: any) => d.deviceId === row.id
			);
			// The same session, not a reopened one.
			expect(again.openedAt).toBe(session.openedAt);
			expect(again.stats.readings).toBeGreaterThanOrEqual(session.stats.readings);
		} finally {
			await cloud2.stop();
		}
		await pi.call("simulator.unplug", { id: "uno" });
		// No manager runs now to close it: the session would keep retrying its kernel name (/dev/pts/N), and take
		// the next PTY given that name (a later test's device) with it.
		await pi.call("processor.close", { deviceId: row.id });
	});
});

describe("a manager that starts after the devices were plugged", () => {
	it("picks up what the detectors hold (their attach events went to nobody)", async () => {
		const root = tempDir("devices-2n-sysfs");
		const usbDir = path.join(root, "sys/devices/usb1/1-4");
		const ttyDir = path.join(usbDir, "1-4:1.0/tty/ttyACM9");
		fs.mkdirSync(ttyDir, { recursive: true });
		fs.mkdirSync(path.join(root, "sys/class/tty"), { recursive: true });
		fs.writeFileSync(path.join(usbDir, "idVendor"), "1546\n");
		fs.writeFileSync(path.join(usbDir, "idProduct"), "01a7\n");
		fs.writeFileSync(path.join(usbDir, "product"), "u-blox 7 - GPS/GNSS Receiver\n");
		fs.symlinkSync(
			path.relative(path.join(root, "sys/class/tty"), ttyDir),
			path.join(root, "sys/class/tty/ttyACM9")
		);
		const ns2 = uniqueNamespace("devices-2n-late");
		const env = { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, SIMULATE: "0" };
		const edge = createTestBroker({
			namespace: ns2,
			nodeID: "pi-late",
			env: { ...env, DETECTOR_SOURCE: "sysfs", SYSFS_ROOT: root },
			services: [DetectorService, ProcessorService]
		});
		await edge.start();
		expect((await edge.call<any, any>("detector.list", {})).devices.map((d: any) => d.path)).toEqual([
			"/dev/ttyACM9"
		]);
		const late = createTestBroker({ namespace: ns2, nodeID: "cloud-late", env, services: [ManagerService] });
		await late.start();
		try {
			const row = await waitFor(
				async () => (await pg.query("SELECT * FROM devices WHERE node_id = 'pi-late'")).rows[0],
				15_000,
				"device registered by sync"
			);
			expect(row).toMatchObject({ name: "u-blox 7 GPS", path: "/dev/ttyACM9", vid: "1546", pid: "01a7" });
			// There is no real /dev/ttyACM9 here: the processor keeps retrying it (auto_reconnect) and says so.
			await waitFor(
				async () =>
					(await pg.query("SELECT status FROM devices WHERE id = $1", [row.id])).rows[0].status ===
					"disconnected",
				10_000,
				"open retried"
			);
			const list = await edge.call<any, any>("processor.list", {});
			expect(list.devices.map((d: any) => d.deviceId)).toEqual([row.id]);
		} finally {
			await late.stop();
			await edge.stop();
			fs.rmSync(root, { recursive: true, force: true });
		}
	});
});

describe("an edge node that learns of the manager late", () => {
	it("asks the manager to sync it: a device attached meanwhile is registered and streams", async () => {
		// A node learns of another's services a moment after that one started (Moleculer's INFO, sent a second
		// after the last service registered): events emitted meanwhile reach no one. Here the edge node is made to
		// forget the cloud node, as if it had not heard of it yet; its next heartbeat brings it back.
		const ns4 = uniqueNamespace("devices-2n-unknown");
		const db4 = await createTestDatabase("devices_2n_unknown");
		const pg4 = new Client({ connectionString: db4.url });
		await pg4.connect();
		const env = { TRANSPORTER: NATS_URL, DATABASE_URL: db4.url, DETECTOR_SOURCE: "simulated", SIMULATE: "0" };
		const edge = createTestBroker({
			namespace: ns4,
			nodeID: "pi-4",
			env,
			// The consumer makes the readings' stream exist in this namespace.
			services: [DetectorService, ProcessorService, SimulatorService, consumer]
		});
		const cloud4 = createTestBroker({ namespace: ns4, nodeID: "cloud-4", env, services: [ManagerService] });
		const statusOf = async () =>
			(await pg4.query("SELECT status, status_reason FROM devices WHERE serial = 'UNO-LATE'")).rows[0];
		const forgetCloud = async () => {
			edge.registry.nodes.disconnected("cloud-4", true);
			await waitFor(() => !edge.registry.getServiceList({ onlyAvailable: true }).some(s => s.name === "manager"));
		};
		try {
			await Promise.all([edge.start(), cloud4.start()]);
			await edge.waitForServices(["manager"], 15_000);
			await cloud4.waitForServices(["detector", "processor"], 15_000);
			await new Promise(r => setTimeout(r, 1500)); // the manager's own start-up sync is done

			await forgetCloud();
			await edge.call("simulator.plug", {
				kind: "arduino-uno",
				id: "uno-4",
				serial: "UNO-LATE",
				rateHz: 20,
				lines: ["temperature:18.5"]
			});
			let last: { status: string; status_reason: string | null } | undefined;
			await waitFor(
				async () => (last = await statusOf())?.status === "streaming",
				20_000,
				() => `the device registered and streaming (now ${JSON.stringify(last)})`
			);
		} finally {
			await cloud4.stop();
			await edge.stop();
			await pg4.end();
			await db4.drop();
		}
	});
});
