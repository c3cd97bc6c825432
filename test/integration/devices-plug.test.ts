/**
 * The device chain end to end on one node, with real parts: real PTYs (socat) read by
 * serialport, real PostgreSQL registry, real NATS JetStream channel. Only udev is simulated
 * (the detector's simulated source, driven by simulator.plug/unplug).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import { readingsOf, type Reading } from "../../services/shared/contracts";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";

let db: TestDatabase;
let broker: ServiceBroker;
let pg: Client;
const received: Reading[] = [];
const ns = uniqueNamespace("devices-plug");

const configured: any[] = [];
const consumer: ServiceSchema = {
	name: "readings-probe",
	events: {
		"device.configured"(ctx: any) {
			configured.push(ctx.params);
		}
	},
	channels: {
		"telemetry.readings": {
			group: "devices-plug-test",
			handler(payload: unknown) {
				received.push(...(readingsOf(payload) as Reading[]));
			}
		}
	}
} as ServiceSchema;

async function device(id: number) {
	return (await pg.query("SELECT * FROM devices WHERE id = $1", [id])).rows[0];
}
async function deviceBySerial(serial: string) {
	return (await pg.query("SELECT * FROM devices WHERE serial = $1", [serial])).rows[0];
}
async function datapointIds(deviceId: number): Promise<Record<string, number>> {
	const rows = (await pg.query("SELECT id, label FROM datapoints WHERE device_id = $1", [deviceId])).rows;
	return Object.fromEntries(rows.map(r => [r.label, r.id]));
}

beforeAll(async () => {
	await requireServer("nats");
	db = await createTestDatabase("devices_plug");
	pg = new Client({ connectionString: db.url });
	await pg.connect();
	broker = createTestBroker({
		namespace: ns,
		nodeID: "pi",
		env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url, DETECTOR_SOURCE: "simulated", SIMULATE: "0" },
		services: [DetectorService, ManagerService, ProcessorService, SimulatorService, consumer]
	});
	await broker.start();
});

afterAll(async () => {
	await broker?.stop();
	await pg?.end();
	await db?.drop();
});

describe("plug and play on one node", () => {
	it("identifies a plugged Arduino Uno, streams, stops on unplug, resumes under its id on replug", async () => {
		await broker.call("simulator.plug", {
			kind: "arduino-uno",
			id: "uno",
			serial: "UNO-0001",
			rateHz: 20,
			lines: ["temperature:21.5,humidity:40.25", "temperature:21.75,humidity:40.5,light:512"]
		});
		const row = await waitFor(
			async () => {
				const d = await deviceBySerial("UNO-0001");
				return d?.status === "streaming" ? d : null;
			},
			15_000,
			"Arduino streaming"
		);
		expect(row.name).toBe("Arduino Uno");
		expect(row.type).toBe("arduino");
		expect(row.vid).toBe("2341");
		expect(row.pid).toBe("0043");
		expect(row.node_id).toBe("pi");
		// The processor opened the stable by-id link, not the /dev/pts name.
		expect(row.dev_link).toMatch(/serial\/by-id\/usb-Arduino.*UNO-0001-if00$/);
		const processors = await broker.call<any, any>("processor.list", {}, { nodeID: "pi" });
		expect(processors.devices.find((d: any) => d.deviceId === row.id).path).toBe(row.dev_link);

		const dp = await datapointIds(row.id);
		expect(Object.keys(dp).sort()).toEqual(["humidity", "light", "temperature"]);
		// device.configured: the device's configuration (profile + merged config).
		expect(configured.find(c => c.deviceId === row.id)).toMatchObject({
			device: row.dev_link,
			nodeID: "pi",
			profile: { name: "Arduino Uno", interface: "uart", baudrate: 9600, protocol: "line" },
			config: { auto_reconnect: true, buffer_size: 1024, timeout: 5 }
		});
		await waitFor(
			() => received.filter(r => r.deviceId === row.id).length >= 8,
			10_000,
			"readings on telemetry.readings"
		);
		const mine = received.filter(r => r.deviceId === row.id);
		const temps = new Set(mine.filter(r => r.datapointId === dp.temperature).map(r => r.value));
		const hums = new Set(mine.filter(r => r.datapointId === dp.humidity).map(r => r.value));
		expect([...temps].sort()).toEqual([21.5, 21.75]);
		expect([...hums].sort()).toEqual([40.25, 40.5]);
		expect(mine.filter(r => r.datapointId === dp.light).every(r => r.value === 512)).toBe(true);
		expect(mine.every(r => typeof r.ts === "number" && Math.abs(Date.now() - (r.ts as number)) < 60_000)).toBe(
			true
		);
		// Timestamps strictly increase per device, so no two readings collide on decoded_data's key.
		const tempTs = mine.filter(r => r.datapointId === dp.temperature).map(r => r.ts as number);
		expect(new Set(tempTs).size).toBe(tempTs.length);

		// Lifecycle recorded in order.
		const statuses = (
			await pg.query("SELECT status FROM device_events WHERE device_id = $1 AND type = 'status' ORDER BY id", [
				row.id
			])
		).rows.map(r => r.status);
		expect(statuses.slice(0, 4)).toEqual(["detected", "identified", "configured", "streaming"]);

		// Unplug: disconnected, the processor lets go, no more readings.
		await broker.call("simulator.unplug", { id: "uno" });
		await waitFor(async () => (await device(row.id)).status === "disconnected", 10_000, "disconnected");
		await waitFor(
			async () =>
				!(await broker.call<any, any>("processor.list", {})).devices.some((d: any) => d.deviceId === row.id),
			5000,
			"processor closed"
		);
		await new Promise(r => setTimeout(r, 300));
		const countAfterUnplug = received.filter(r => r.deviceId === row.id).length;
		await new Promise(r => setTimeout(r, 700));
		expect(received.filter(r => r.deviceId === row.id).length).toBe(countAfterUnplug);

		// Replug (a new PTY, so a new kernel name): same serial → same id, the stream resumes.
		const replugAt = Date.now();
		const again = await broker.call<any, any>("simulator.plug", {
			kind: "arduino-uno",
			id: "uno",
			serial: "UNO-0001",
			rateHz: 20,
			lines: ["temperature:22.5,humidity:41"]
		});
		await waitFor(
			() => received.some(r => r.deviceId === row.id && (r.ts as number) >= replugAt && r.value === 22.5),
			15_000,
			"stream resumed"
		);
		const after = await device(row.id);
		expect(after.status).toBe("streaming");
		expect(after.path).toBe(again.path);
		expect((await pg.query("SELECT count(*)::int AS n FROM devices WHERE serial = 'UNO-0001'")).rows[0].n).toBe(1);
		await broker.call("simulator.unplug", { id: "uno" });
	});

	it("survives garbage, over-long and half lines: bad ones counted and skipped, good ones stream", async () => {
		const long = "temperature:" + "9".repeat(5000);
		await broker.call("simulator.plug", {
			kind: "arduino-uno",
			id: "noisy",
			serial: "UNO-NOISY",
			rateHz: 50,
			lines: [
				"\u0000\u00ff\u0013garbage\u0007",
				"temperature:abc",
				long,
				"humidity",
				"temperature:30,humidity:60",
				'{"oops"',
				"temperature",
				"temperature:31,humidity:61"
			]
		});
		const row = await waitFor(
			async () => {
				const d = await deviceBySerial("UNO-NOISY");
				return d?.status === "streaming" ? d : null;
			},
			15_000,
			"noisy device streaming"
		);
		const dp = await datapointIds(row.id);
		await waitFor(
			() => received.filter(r => r.deviceId === row.id && r.datapointId === dp.temperature).length >= 6,
			10_000,
			"good readings"
		);
		const stats = await waitFor(
			async () => {
				const list = await broker.call<any, any>("processor.list", {});
				const s = list.devices.find((d: any) => d.deviceId === row.id)?.stats;
				return s && s.badLines >= 5 && s.overlongLines >= 1 ? s : null;
			},
			10_000,
			"bad lines counted"
		);
		expect(stats.droppedBytes).toBeGreaterThanOrEqual(5000);
		const values = new Set(
			received.filter(r => r.deviceId === row.id && r.datapointId === dp.temperature).map(r => r.value)
		);
		expect([...values].sort()).toEqual([30, 31]);
		await broker.call("simulator.unplug", { id: "noisy" });
	});

	it("reads a GPS (NMEA), a Modbus RTU sensor and a BME280 on the simulated I2C bus", async () => {
		await broker.call("simulator.plug", { kind: "gps", id: "gps", rateHz: 5 });
		await broker.call("simulator.plug", { kind: "modbus-sensor", id: "rs485", serial: "FTRS485" });
		await broker.call("simulator.plug", { kind: "bme280", id: "bme" });
		const byName = async (name: string) =>
			(await pg.query("SELECT * FROM devices WHERE name = $1 AND status = 'streaming'", [name])).rows[0];
		const gps = await waitFor(() => byName("u-blox 7 GPS"), 15_000, "GPS streaming");
		const modbus = await waitFor(
			() => byName("RS485 Modbus temperature/humidity sensor"),
			15_000,
			"Modbus streaming"
		);
		const bme = await waitFor(() => byName("BME280"), 15_000, "BME280 streaming");
		expect(bme.address).toBe(0x76);

		const gdp = await datapointIds(gps.id);
		await waitFor(
			() => received.some(r => r.deviceId === gps.id && r.datapointId === gdp.latitude),
			10_000,
			"GPS latitude"
		);
		const lat = received.find(r => r.deviceId === gps.id && r.datapointId === gdp.latitude)!.value;
		expect(lat).toBeGreaterThan(48.1);
		expect(lat).toBeLessThan(48.2);
		expect(received.find(r => r.deviceId === gps.id && r.datapointId === gdp.satellites)?.value).toBe(8);

		const mdp = await datapointIds(modbus.id);
		await waitFor(
			() => received.some(r => r.deviceId === modbus.id && r.datapointId === mdp.humidity),
			10_000,
			"Modbus humidity"
		);
		expect(received.find(r => r.deviceId === modbus.id && r.datapointId === mdp.humidity)!.value).toBe(45.5);
		const mt = received.find(r => r.deviceId === modbus.id && r.datapointId === mdp.temperature)!.value;
		expect(mt).toBeGreaterThanOrEqual(20.5);
		expect(mt).toBeLessThanOrEqual(22.5);

		// A Modbus write (what automation sends) reaches the slave's holding register.
		await broker.call("processor.write", { deviceId: modbus.id, register: 5, value: 42 }, { nodeID: "pi" });
		const sim = (await broker.call<any[], any>("simulator.devices", {})).find(d => d.id === "rs485");
		expect(sim.registers["5"]).toBe(42);

		const bdp = await datapointIds(bme.id);
		await waitFor(
			() => received.some(r => r.deviceId === bme.id && r.datapointId === bdp.pressure),
			10_000,
			"BME280 pressure"
		);
		const p = received.find(r => r.deviceId === bme.id && r.datapointId === bdp.pressure)!.value;
		expect(p).toBeCloseTo(1006.53, 1);
		const t = received.find(r => r.deviceId === bme.id && r.datapointId === bdp.temperature)!.value;
		expect(t).toBeGreaterThan(24);
		expect(t).toBeLessThan(26.5);

		for (const id of ["gps", "rs485", "bme"]) await broker.call("simulator.unplug", { id });
		await waitFor(async () => (await device(bme.id)).status === "disconnected", 10_000, "BME280 disconnected");
	});

	it("registers an unknown device as unidentified (usb.ids name); a renumbered tty keeps one id", async () => {
		await broker.call("detector.simulate", {
			action: "add",
			path: "/dev/ttyUSB7",
			subsystem: "tty",
			properties: {
				ID_VENDOR_ID: "046d",
				ID_MODEL_ID: "c52b",
				ID_VENDOR: "Logitech",
				ID_MODEL: "USB_Receiver",
				ID_PATH: "pci-0000:00:14.0-usb-0:9:1.0"
			}
		});
		const unknown = await waitFor(
			async () => (await pg.query("SELECT * FROM devices WHERE vid = '046d'")).rows[0],
			10_000,
			"unknown device registered"
		);
		expect(unknown.type).toBe("unidentified");
		expect(unknown.name).toBe("Logitech, Inc. Unifying Receiver");
		expect(unknown.status).toBe("detected");

		// A CH340 clone without a serial number: ttyUSB0, unplugged, back as ttyUSB1 on the same port.
		const props = {
			ID_VENDOR_ID: "1a86",
			ID_MODEL_ID: "7523",
			ID_VENDOR: "1a86",
			ID_MODEL: "USB2.0-Serial",
			ID_PATH: "pci-0000:00:14.0-usb-0:3:1.0"
		};
		await broker.call("detector.simulate", {
			action: "add",
			path: "/dev/ttyUSB0",
			subsystem: "tty",
			properties: props
		});
		const first = await waitFor(
			async () => (await pg.query("SELECT * FROM devices WHERE vid = '1a86'")).rows[0],
			10_000,
			"CH340 registered"
		);
		expect(first.name).toBe("Arduino-compatible (CH340)");
		await broker.call("detector.simulate", {
			action: "remove",
			path: "/dev/ttyUSB0",
			subsystem: "tty",
			properties: props
		});
		await waitFor(async () => (await device(first.id)).status === "disconnected", 10_000, "CH340 disconnected");
		await broker.call("detector.simulate", {
			action: "add",
			path: "/dev/ttyUSB1",
			subsystem: "tty",
			properties: props
		});
		await waitFor(async () => (await device(first.id)).path === "/dev/ttyUSB1", 10_000, "CH340 back as ttyUSB1");
		expect((await pg.query("SELECT count(*)::int AS n FROM devices WHERE vid = '1a86'")).rows[0].n).toBe(1);
		await broker.call("detector.simulate", {
			action: "remove",
			path: "/dev/ttyUSB1",
			subsystem: "tty",
			properties: props
		});
		await broker.call("detector.simulate", {
			action: "remove",
			path: "/dev/ttyUSB7",
			subsystem: "tty",
			properties: {}
		});
	});
});
