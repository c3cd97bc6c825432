/**
 * The detector service: source chosen from the environment and announced, device.attached /
 * device.detached payloads (contracts/devices.ts), detector.list and detector.rescan; and the udevadm
 * source's process handling, run against a stand-in `udevadm` script that replays recorded
 * output (mock: there is no udev in this container).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import DetectorService from "../../services/detector/detector.service";
import { UdevadmSource } from "../../services/detector/sources/udevadm";
import type { RawDeviceEvent } from "../../services/detector/sources/types";
import type { DeviceHotplugEvent } from "../../services/shared/contracts";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";

const FIXTURES = path.join(__dirname, "../fixtures/devices");
const root = tempDir("devices-det");
let broker: ServiceBroker;
const events: Array<{ name: string; payload: DeviceHotplugEvent }> = [];

function plug(name: string, port: string, attrs: Record<string, string>) {
	const usbDir = path.join(root, "sys/devices/platform/usb1", port);
	const ttyDir = path.join(usbDir, `${port}:1.0`, "tty", name);
	fs.mkdirSync(ttyDir, { recursive: true });
	for (const [k, v] of Object.entries(attrs)) fs.writeFileSync(path.join(usbDir, k), v + "\n");
	fs.symlinkSync(path.relative(path.join(root, "sys/class/tty"), ttyDir), path.join(root, "sys/class/tty", name));
}

beforeAll(async () => {
	fs.mkdirSync(path.join(root, "sys/class/tty"), { recursive: true });
	// Plugged before the node starts: reported by the initial enumeration.
	plug("ttyACM0", "1-1", {
		idVendor: "2341",
		idProduct: "0043",
		manufacturer: "Arduino (www.arduino.cc)",
		serial: "7573"
	});
	broker = createTestBroker({
		namespace: uniqueNamespace("devices-det"),
		nodeID: "pi",
		env: { DETECTOR_SOURCE: "sysfs", SYSFS_ROOT: root, SIMULATE: "0", DEVICE_NODEID: "pi-processor" },
		services: [
			DetectorService,
			{
				name: "listener",
				events: {
					"device.attached"(ctx: any) {
						events.push({ name: "device.attached", payload: ctx.params });
					},
					"device.detached"(ctx: any) {
						events.push({ name: "device.detached", payload: ctx.params });
					}
				}
			}
		]
	});
	await broker.start();
});

afterAll(async () => {
	await broker?.stop();
	fs.rmSync(root, { recursive: true, force: true });
});

describe("detector service on the sysfs source", () => {
	it("announces its source, reports what is there at start, then plug and unplug (contract payload)", async () => {
		const list = await broker.call<any, any>("detector.list", {});
		expect(list.sources).toEqual(["sysfs"]);
		await waitFor(
			() => events.some(e => e.name === "device.attached" && e.payload.path === "/dev/ttyACM0"),
			5000,
			"initial enumeration"
		);
		const first = events.find(e => e.payload.path === "/dev/ttyACM0")!.payload;
		expect(first).toMatchObject({
			action: "add",
			subsystem: "tty",
			nodeID: "pi-processor",
			properties: {
				ID_VENDOR_ID: "2341",
				ID_MODEL_ID: "0043",
				ID_VENDOR: "Arduino__www.arduino.cc_",
				ID_SERIAL_SHORT: "7573"
			}
		});
		expect(new Date(first.timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);

		plug("ttyUSB0", "1-2", { idVendor: "1a86", idProduct: "7523", product: "USB2.0-Serial" });
		await waitFor(
			() => events.some(e => e.name === "device.attached" && e.payload.path === "/dev/ttyUSB0"),
			5000,
			"plug"
		);
		expect((await broker.call<any, any>("detector.list", {})).devices.map((d: any) => d.path).sort()).toEqual([
			"/dev/ttyACM0",
			"/dev/ttyUSB0"
		]);

		fs.rmSync(path.join(root, "sys/class/tty/ttyUSB0"));
		await waitFor(
			() => events.some(e => e.name === "device.detached" && e.payload.path === "/dev/ttyUSB0"),
			5000,
			"unplug"
		);
		const det = events.find(e => e.name === "device.detached")!.payload;
		// The detach carries the identity it was attached with.
		expect(det).toMatchObject({ action: "remove", properties: { ID_VENDOR_ID: "1a86", ID_MODEL_ID: "7523" } });
		expect(events.filter(e => e.payload.path === "/dev/ttyUSB0").length).toBe(2);

		// A missed unplug is caught up by a rescan.
		fs.rmSync(path.join(root, "sys/class/tty/ttyACM0"));
		const res = await broker.call<any, any>("detector.rescan", {});
		expect(res).toMatchObject({ removed: 1 });
		expect(events.some(e => e.name === "device.detached" && e.payload.path === "/dev/ttyACM0")).toBe(true);
		await expect(
			broker.call("detector.simulate", { action: "add", path: "/dev/x", subsystem: "tty" })
		).rejects.toMatchObject({ code: 409, type: "SIMULATION_DISABLED" });
	});
});

describe("udevadm source process handling (stand-in udevadm replaying recorded output)", () => {
	it("spawns the monitor, parses its stream and enumerates with info --export-db", async () => {
		const bin = path.join(root, "udevadm");
		fs.writeFileSync(
			bin,
			`#!/bin/sh\nif [ "$1" = monitor ]; then echo "$@" > ${root}/monitor-args; cat ` +
				`${FIXTURES}/udevadm-monitor.txt; exec sleep 30; else cat ${FIXTURES}/udevadm-export-db.txt; ` +
				`fi\n`,
			{ mode: 0o755 }
		);
		const src = new UdevadmSource(bin, { warn: () => undefined });
		const got: RawDeviceEvent[] = [];
		await src.start(e => got.push(e));
		await waitFor(() => got.length >= 4, 5000, "monitor events");
		expect(fs.readFileSync(path.join(root, "monitor-args"), "utf8").trim()).toBe(
			"monitor --udev --property --subsystem-match=tty --subsystem-match=usb --subsystem-match=i2c-dev"
		);
		expect(got.map(e => `${e.action} ${e.path}`)).toEqual([
			"add /dev/bus/usb/001/007",
			"add /dev/ttyACM0",
			"add /dev/i2c-1",
			"remove /dev/ttyACM0"
		]);
		expect((await src.scan()).map(d => d.path)).toEqual(["/dev/tty0", "/dev/ttyUSB0", "/dev/i2c-1"]);
		await src.stop();
	});
});
