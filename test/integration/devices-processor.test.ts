/**
 * The processor on real PTYs (socat) with serialport: reconnect with backoff, the read
 * timeout, one failing device beside a healthy one, writes to a device, validation.
 * Readings are checked on the real NATS JetStream channel.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import ProcessorService from "../../services/processor/processor.service";
import {
	readingsOf,
	type DeviceOpenRequest,
	type DeviceStatusEvent,
	type Reading
} from "../../services/shared/contracts";
import { createPtyPair, type PtyPair } from "../../services/simulator/pty";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { NATS_URL, requireServer } from "../helpers/servers";

let broker: ServiceBroker;
const received: Reading[] = [];
const statuses: DeviceStatusEvent[] = [];
const dir = tempDir("devices-proc");
const ns = uniqueNamespace("devices-proc");

const probe: ServiceSchema = {
	name: "probe",
	channels: {
		"telemetry.readings": {
			group: "devices-proc-test",
			handler(payload: unknown) {
				received.push(...(readingsOf(payload) as Reading[]));
			}
		}
	},
	events: {
		"device.status"(ctx: any) {
			statuses.push(ctx.params);
		}
	}
} as ServiceSchema;

function request(deviceId: number, device: string, over: Partial<DeviceOpenRequest["config"]> = {}): DeviceOpenRequest {
	return {
		deviceId,
		device,
		profile: { name: "test board", interface: "uart", protocol: "line", baudrate: 9600, format: "kv" },
		config: { auto_reconnect: true, buffer_size: 256, timeout: 0.5, ...over },
		datapoints: [
			{ label: "temperature", id: 1000 + deviceId },
			{ label: "humidity", id: 2000 + deviceId, key: "h" }
		]
	};
}

/** Writes to the host end of a PTY with plain fs (the device's firmware). */
function writer(pty: PtyPair) {
	const fd = fs.openSync(pty.hostPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
	return {
		write: (s: string) => fs.writeSync(fd, s),
		read: () => {
			const b = Buffer.alloc(4096);
			try {
				return b.subarray(0, fs.readSync(fd, b, 0, b.length, null)).toString();
			} catch {
				return "";
			}
		},
		close: () => fs.closeSync(fd)
	};
}

beforeAll(async () => {
	await requireServer("nats");
	broker = createTestBroker({
		namespace: ns,
		nodeID: "edge",
		env: { TRANSPORTER: NATS_URL },
		services: [ProcessorService, probe]
	});
	await broker.start();
});

afterAll(async () => {
	await broker?.stop();
	fs.rmSync(dir, { recursive: true, force: true });
});

describe("processor sessions", () => {
	it("streams, recovers from a read timeout, reconnects with backoff; another device streams on", async () => {
		const linkA = path.join(dir, "serial/by-id/usb-test-A");
		const linkB = path.join(dir, "serial/by-id/usb-test-B");
		let a = await createPtyPair(linkA, path.join(dir, "a.host"));
		const b = await createPtyPair(linkB, path.join(dir, "b.host"));
		let wa = writer(a);
		const wb = writer(b);
		await broker.call("processor.open", request(1, linkA));
		await broker.call("processor.open", request(2, linkB));
		const tickB = setInterval(() => wb.write("temperature:2.5,h:20\n"), 20);
		try {
			wa.write("temperature:1.5,h:10\n");
			await waitFor(
				() => received.some(r => r.deviceId === 1 && r.datapointId === 1001 && r.value === 1.5),
				10_000,
				"device 1 reading"
			);
			expect(received.find(r => r.deviceId === 1 && r.datapointId === 2001)?.value).toBe(10);
			await waitFor(
				() => statuses.some(s => s.deviceId === 1 && s.status === "streaming" && s.nodeID === "edge"),
				5000,
				"streaming status"
			);

			// Silent for longer than timeout (0.5 s): an error status naming the timeout; data again: streaming.
			await waitFor(
				() =>
					statuses.some(s => s.deviceId === 1 && s.status === "error" && /read timeout/.test(s.reason ?? "")),
				5000,
				"read timeout status"
			);
			const n = statuses.length;
			wa.write("temperature:1.75\n");
			await waitFor(
				() => statuses.slice(n).some(s => s.deviceId === 1 && s.status === "streaming"),
				5000,
				"streaming again"
			);

			// The device vanishes (socat gone, link removed): disconnected, then back when it returns.
			wa.close();
			await a.close();
			await waitFor(
				() => statuses.some(s => s.deviceId === 1 && s.status === "disconnected"),
				5000,
				"disconnected status"
			);
			const bBefore = received.filter(r => r.deviceId === 2).length;
			await new Promise(r => setTimeout(r, 700));
			expect(received.filter(r => r.deviceId === 2).length).toBeGreaterThan(bBefore + 10);
			a = await createPtyPair(linkA, path.join(dir, "a.host"));
			wa = writer(a);
			const reconnected = () =>
				broker.call<any, any>("processor.list", {}).then(l => l.devices.find((d: any) => d.deviceId === 1));
			await waitFor(
				async () => {
					wa.write("temperature:3.25\n");
					return received.some(r => r.deviceId === 1 && r.value === 3.25);
				},
				15_000,
				"reading after reconnect"
			);
			const s1 = await reconnected();
			expect(s1.status).toBe("streaming");
			expect(s1.stats.reconnects).toBeGreaterThanOrEqual(1);

			// Writing to a device: the line arrives at its firmware.
			await broker.call("processor.write", { deviceId: 1, line: "LED ON" });
			await waitFor(() => wa.read().includes("LED ON\n"), 3000, "line at the device");
		} finally {
			clearInterval(tickB);
			await broker.call("processor.close", { deviceId: 1 });
			await broker.call("processor.close", { deviceId: 2 });
			wa.close();
			wb.close();
			await a.close();
			await b.close();
		}
	});

	it("without auto_reconnect a missing device fails the open with a clear error; bad params refused", async () => {
		await expect(
			broker.call("processor.open", request(3, path.join(dir, "nope"), { auto_reconnect: false }))
		).rejects.toMatchObject({ type: "DEVICE_OPEN_FAILED", message: expect.stringMatching(/cannot open .*nope/) });
		expect((await broker.call<any, any>("processor.list", {})).devices.some((d: any) => d.deviceId === 3)).toBe(
			false
		);
		await expect(broker.call("processor.open", { deviceId: -1, device: "" })).rejects.toMatchObject({
			name: "ValidationError"
		});
		await expect(broker.call("processor.write", { deviceId: 99, line: "x" })).rejects.toMatchObject({ code: 404 });
		await expect(broker.call("processor.close", { deviceId: 99 })).resolves.toEqual({
			deviceId: 99,
			closed: false
		});
	});

	it("with auto_reconnect a device not there yet keeps being retried and streams once it appears", async () => {
		const link = path.join(dir, "serial/by-id/usb-test-late");
		const res = await broker.call<any, any>("processor.open", request(4, link));
		expect(res.status).toBe("disconnected");
		const pty = await createPtyPair(link, path.join(dir, "late.host"));
		const w = writer(pty);
		try {
			await waitFor(
				() => {
					w.write("temperature:4.5\n");
					return received.some(r => r.deviceId === 4 && r.value === 4.5);
				},
				15_000,
				"late device streaming"
			);
		} finally {
			await broker.call("processor.close", { deviceId: 4 });
			w.close();
			await pty.close();
		}
	});

	it("Modbus RTU over a PTY (modbus-serial slave): polls the registers, reconnects after link loss", async () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a Modbus device is opened
		const { ServerSerial } = require("modbus-serial");
		const link = path.join(dir, "serial/by-id/usb-FTDI_USB-RS485-test");
		const startSlave = async () => {
			const pty = await createPtyPair(link, path.join(dir, "modbus.host"));
			const server = new ServerSerial(
				{
					getInputRegister: (a: number) => (a === 1 ? 0xff9c : a === 2 ? 455 : 0),
					getHoldingRegister: () => 0,
					setRegister: () => undefined
				},
				{ path: pty.hostPath, baudRate: 9600, unitID: 1 }
			);
			server.on("error", () => undefined);
			return {
				pty,
				close: async () => (await new Promise<void>(r => server.close(() => r())), await pty.close())
			};
		};
		let slave = await startSlave();
		const req: DeviceOpenRequest = {
			deviceId: 5,
			device: link,
			profile: {
				name: "rs485",
				interface: "uart",
				protocol: "modbus",
				baudrate: 9600,
				modbus: {
					unit_id: 1,
					poll_ms: 100,
					registers: [
						{ label: "temperature", address: 1, type: "input", format: "int16", scale: 0.1 },
						{ label: "humidity", address: 2, type: "input", format: "uint16", scale: 0.1 }
					]
				}
			},
			config: { auto_reconnect: true, buffer_size: 1024, timeout: 5 },
			datapoints: [
				{ label: "temperature", id: 51 },
				{ label: "humidity", id: 52 }
			]
		};
		await broker.call("processor.open", req);
		try {
			await waitFor(
				() => received.some(r => r.deviceId === 5 && r.datapointId === 51),
				10_000,
				"Modbus readings"
			);
			expect(received.find(r => r.deviceId === 5 && r.datapointId === 51)!.value).toBe(-10);
			expect(received.find(r => r.deviceId === 5 && r.datapointId === 52)!.value).toBe(45.5);
			await slave.close();
			await waitFor(
				() => statuses.some(s => s.deviceId === 5 && s.status === "disconnected"),
				10_000,
				"Modbus disconnected"
			);
			const n = received.filter(r => r.deviceId === 5).length;
			slave = await startSlave();
			await waitFor(
				() => received.filter(r => r.deviceId === 5).length > n,
				15_000,
				"Modbus readings after reconnect"
			);
		} finally {
			await broker.call("processor.close", { deviceId: 5 });
			await slave.close();
		}
	});
});
