import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Debouncer, type Change } from "../../services/detector/debounce";
import { SysfsSource, scanSysfs } from "../../services/detector/sources/sysfs";
import { isRelevant, type RawDeviceEvent } from "../../services/detector/sources/types";
import { UdevMonitorParser, parseExportDb } from "../../services/detector/sources/udevadm";
import { waitFor } from "../helpers/broker";

const FIXTURES = path.join(__dirname, "../fixtures/devices");

describe("udevadm parsers (recorded `udevadm monitor --udev --property` output; udev itself cannot run here)", () => {
	it("turns monitor output into add/remove events, whatever the chunking, skipping banners and bind events", () => {
		const text = fs.readFileSync(path.join(FIXTURES, "udevadm-monitor.txt"), "utf8");
		const whole = new UdevMonitorParser().feed(text);
		// A stream cut after the last property line still yields that event on end().
		const cut = new UdevMonitorParser();
		expect([...cut.feed(text.trimEnd()), ...cut.end()]).toEqual(whole);
		// Byte by byte gives the same events: blocks split across reads are reassembled.
		const p = new UdevMonitorParser();
		const bytewise: RawDeviceEvent[] = [];
		for (const ch of text) bytewise.push(...p.feed(ch));
		expect(bytewise).toEqual(whole);
		expect(whole.map(e => `${e.action} ${e.subsystem} ${e.path}`)).toEqual([
			"add usb /dev/bus/usb/001/007",
			"add tty /dev/ttyACM0",
			"add i2c-dev /dev/i2c-1",
			"remove tty /dev/ttyACM0"
		]);
		const tty = whole[1];
		expect(tty.properties).toMatchObject({
			ID_VENDOR_ID: "2341",
			ID_MODEL_ID: "0043",
			ID_VENDOR: "Arduino__www.arduino.cc_",
			ID_MODEL: "0043",
			ID_SERIAL_SHORT: "85736323838351F0E1E1",
			ID_PATH: "pci-0000:00:14.0-usb-0:2:1.0"
		});
		expect(tty.properties.DEVLINKS).toContain(
			"/dev/serial/by-id/usb-Arduino__www.arduino.cc__0043_85736323838351F0E1E1-if00"
		);
		expect(whole.every(isRelevant)).toBe(true);
	});

	it("reads `udevadm info --export-db` for the initial enumeration; virtual consoles are not devices", () => {
		const devs = parseExportDb(fs.readFileSync(path.join(FIXTURES, "udevadm-export-db.txt"), "utf8"));
		expect(devs.map(d => d.path)).toEqual(["/dev/tty0", "/dev/ttyUSB0", "/dev/i2c-1"]);
		expect(devs.filter(isRelevant).map(d => d.path)).toEqual(["/dev/ttyUSB0", "/dev/i2c-1"]);
		expect(devs[1].properties.ID_VENDOR_ID).toBe("1a86");
	});
});

describe("debouncing", () => {
	const dev = (p: string, serial = "A"): RawDeviceEvent => ({
		action: "add",
		path: p,
		subsystem: "tty",
		properties: { ID_VENDOR_ID: "2341", ID_MODEL_ID: "0043", ID_SERIAL_SHORT: serial }
	});

	it("collapses duplicates and add/remove/add flaps into one change; a real unplug once, with props", async () => {
		const changes: Change[] = [];
		const d = new Debouncer(40, c => changes.push(c));
		d.push(dev("/dev/ttyACM0"));
		d.push(dev("/dev/ttyACM0"));
		d.push({ ...dev("/dev/ttyACM0"), action: "remove" });
		d.push(dev("/dev/ttyACM0"));
		await new Promise(r => setTimeout(r, 80));
		expect(changes.map(c => c.action)).toEqual(["add"]);
		d.push(dev("/dev/ttyACM0")); // duplicate of what is present
		await new Promise(r => setTimeout(r, 80));
		expect(changes.length).toBe(1);
		d.push({ action: "remove", path: "/dev/ttyACM0", subsystem: "tty", properties: {} });
		d.push({ action: "remove", path: "/dev/ttyACM0", subsystem: "tty", properties: {} });
		await new Promise(r => setTimeout(r, 80));
		expect(changes.map(c => c.action)).toEqual(["add", "remove"]);
		expect(changes[1].device.properties.ID_SERIAL_SHORT).toBe("A");
		expect(d.suppressed).toBeGreaterThanOrEqual(4);
	});

	it("a different board on the same node within the window: the old one detaches, the new one attaches", async () => {
		const changes: Change[] = [];
		const d = new Debouncer(0, c => changes.push(c));
		d.push(dev("/dev/ttyUSB0", "A"));
		d.push(dev("/dev/ttyUSB0", "B"));
		expect(changes.map(c => `${c.action}:${c.device.properties.ID_SERIAL_SHORT}`)).toEqual([
			"add:A",
			"remove:A",
			"add:B"
		]);
	});

	it("reconcile (start-up enumeration, rescan) adds what is there and removes what is gone", () => {
		const changes: Change[] = [];
		const d = new Debouncer(0, c => changes.push(c));
		expect(d.reconcile([dev("/dev/a"), dev("/dev/b")])).toEqual({ added: 2, removed: 0 });
		expect(d.reconcile([dev("/dev/b")])).toEqual({ added: 0, removed: 1 });
		expect(changes.map(c => `${c.action}:${c.device.path}`)).toEqual(["add:/dev/a", "add:/dev/b", "remove:/dev/a"]);
	});
});

describe("sysfs source on a built /sys tree", () => {
	const root = fs.mkdtempSync(path.join(os.tmpdir(), "fleetmesh-sysfs-"));
	afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

	function plugUsbSerial(name: string, port: string, attrs: Record<string, string>, byId?: string) {
		const usbDir = path.join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1", port);
		const ttyDir = path.join(usbDir, `${port}:1.0`, name, "tty", name);
		fs.mkdirSync(ttyDir, { recursive: true });
		for (const [k, v] of Object.entries(attrs)) fs.writeFileSync(path.join(usbDir, k), v + "\n");
		fs.mkdirSync(path.join(root, "sys/class/tty"), { recursive: true });
		fs.symlinkSync(path.relative(path.join(root, "sys/class/tty"), ttyDir), path.join(root, "sys/class/tty", name));
		if (byId) {
			fs.mkdirSync(path.join(root, "dev/serial/by-id"), { recursive: true });
			fs.symlinkSync(`../../${name}`, path.join(root, "dev/serial/by-id", byId));
		}
	}
	function unplug(name: string, port: string, byId?: string) {
		fs.rmSync(path.join(root, "sys/class/tty", name));
		fs.rmSync(path.join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1", port), { recursive: true });
		if (byId) fs.rmSync(path.join(root, "dev/serial/by-id", byId));
	}

	it("reports plug and unplug with the USB identity read from sysfs attributes", async () => {
		// A virtual console and an I2C bus are there from the start.
		fs.mkdirSync(path.join(root, "sys/devices/virtual/tty/tty0"), { recursive: true });
		fs.mkdirSync(path.join(root, "sys/class/tty"), { recursive: true });
		fs.symlinkSync("../../devices/virtual/tty/tty0", path.join(root, "sys/class/tty/tty0"));
		fs.mkdirSync(path.join(root, "sys/class/i2c-dev/i2c-1"), { recursive: true });
		fs.writeFileSync(path.join(root, "sys/class/i2c-dev/i2c-1/name"), "bcm2835 (i2c@7e804000)\n");
		expect((await scanSysfs(root)).map(d => d.path)).toEqual(["/dev/i2c-1"]);

		const src = new SysfsSource(root, 30);
		const events: RawDeviceEvent[] = [];
		await src.start(e => events.push(e));
		plugUsbSerial(
			"ttyUSB0",
			"1-1.2",
			{
				idVendor: "10c4",
				idProduct: "EA60",
				manufacturer: "Silicon Labs",
				product: "CP2102 USB to UART Bridge Controller",
				serial: "0001"
			},
			"usb-Silicon_Labs_CP2102_0001-if00-port0"
		);
		await waitFor(() => events.length >= 1, 3000, "add event");
		expect(events[0]).toMatchObject({
			action: "add",
			path: "/dev/ttyUSB0",
			subsystem: "tty",
			properties: {
				ID_VENDOR_ID: "10c4",
				ID_MODEL_ID: "ea60",
				ID_VENDOR: "Silicon_Labs",
				ID_MODEL: "CP2102_USB_to_UART_Bridge_Controller",
				ID_SERIAL_SHORT: "0001",
				ID_PATH: "usb-1-1.2:1.0",
				DEVLINKS: "/dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0"
			}
		});
		unplug("ttyUSB0", "1-1.2", "usb-Silicon_Labs_CP2102_0001-if00-port0");
		await waitFor(() => events.length >= 2, 3000, "remove event");
		expect(events[1]).toMatchObject({ action: "remove", path: "/dev/ttyUSB0" });
		await src.stop();
		expect(events.length).toBe(2);
	});
});
