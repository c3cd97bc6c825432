import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { deviceUid, i2cChipUid, stablePath } from "../../services/manager/identity";
import { mergeConfig, unidentifiedName } from "../../services/manager/manager.service";
import { globMatch, loadProfiles, matchProfile } from "../../services/manager/profiles";
import { BUNDLED_USB_IDS, loadUsbIds, lookupUsb, parseUsbIds } from "../../services/manager/usbids";
import { PROFILES_DIR } from "../../services/shared/paths";

const { profiles, errors } = loadProfiles(PROFILES_DIR);
const tty = (props: Record<string, string>) => ({ subsystem: "tty", properties: props });

describe("shipped profiles", () => {
	it("all load without errors", () => {
		expect(errors).toEqual([]);
		expect(profiles.map(p => p.name)).toEqual(
			expect.arrayContaining([
				"Arduino Uno",
				"Arduino Mega 2560",
				"Arduino-compatible (CH340)",
				"Arduino-compatible (FTDI FT232R)",
				"ESP32 DevKit (CP210x)",
				"u-blox 7 GPS",
				"RS485 Modbus temperature/humidity sensor",
				"BME280"
			])
		);
	});

	it("match by VID/PID, and the most specific profile wins for shared bridge chips", () => {
		expect(matchProfile(profiles, tty({ ID_VENDOR_ID: "2341", ID_MODEL_ID: "0043" }))?.name).toBe("Arduino Uno");
		expect(matchProfile(profiles, tty({ ID_VENDOR_ID: "2341", ID_PRODUCT_ID: "0042" }))?.name).toBe(
			"Arduino Mega 2560"
		);
		expect(matchProfile(profiles, tty({ ID_VENDOR_ID: "1A86", ID_MODEL_ID: "7523" }))?.name).toBe(
			"Arduino-compatible (CH340)"
		);
		expect(
			matchProfile(
				profiles,
				tty({ ID_VENDOR_ID: "10c4", ID_MODEL_ID: "ea60", ID_MODEL: "CP2102_USB_to_UART_Bridge_Controller" })
			)?.name
		).toBe("CP210x USB-UART bridge");
		expect(
			matchProfile(profiles, tty({ ID_VENDOR_ID: "10c4", ID_MODEL_ID: "ea60", ID_MODEL: "esp32_devkitc_v4" }))
				?.name
		).toBe("ESP32 DevKit (CP210x)");
		expect(
			matchProfile(profiles, tty({ ID_VENDOR_ID: "0403", ID_MODEL_ID: "6001", ID_MODEL: "FT232R_USB_UART" }))
				?.name
		).toBe("Arduino-compatible (FTDI FT232R)");
		expect(
			matchProfile(profiles, tty({ ID_VENDOR_ID: "0403", ID_MODEL_ID: "6001", ID_MODEL: "USB-RS485_Cable" }))
				?.name
		).toBe("RS485 Modbus temperature/humidity sensor");
		expect(matchProfile(profiles, tty({ ID_VENDOR_ID: "1546", ID_MODEL_ID: "01a7" }))?.name).toBe("u-blox 7 GPS");
		expect(matchProfile(profiles, { subsystem: "i2c-dev", properties: {} })?.name).toBe("BME280");
		// Subsystem counts: the USB parent of an Uno is not opened as a tty.
		expect(
			matchProfile(profiles, { subsystem: "usb", properties: { ID_VENDOR_ID: "2341", ID_MODEL_ID: "0043" } })
		).toBeNull();
		expect(matchProfile(profiles, tty({ ID_VENDOR_ID: "046d", ID_MODEL_ID: "c52b" }))).toBeNull();
	});

	it("globs are case-insensitive and treat udev's '_' as a space", () => {
		expect(globMatch("*ESP32*", "Esp32_DevKit")).toBe(true);
		expect(globMatch("CP210? bridge", "cp2102_Bridge")).toBe(true);
		expect(globMatch("*ESP32*", "CP2102")).toBe(false);
		expect(globMatch("a.b", "axb")).toBe(false);
	});

	it("merges profile defaults with per-device overrides", () => {
		const uno = profiles.find(p => p.name === "Arduino Uno")!;
		expect(mergeConfig(uno, {})).toEqual({
			baudrate: 9600,
			protocol: "line",
			auto_reconnect: true,
			buffer_size: 1024,
			timeout: 5
		});
		expect(mergeConfig(uno, { baudrate: 115200, timeout: 2.5 })).toMatchObject({
			baudrate: 115200,
			timeout: 2.5,
			auto_reconnect: true
		});
	});
});

describe("profile validation", () => {
	it("reports a bad file with its file and field, and still loads the others", () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetmesh-profiles-"));
		fs.copyFileSync(path.join(PROFILES_DIR, "arduino-uno.yaml"), path.join(dir, "arduino-uno.yaml"));
		fs.writeFileSync(
			path.join(dir, "bad-vid.yaml"),
			"name: Bad\nmatch:\n  vendor_id: 2341\ninterface: uart\nprotocol: line\ndatapoints:\n  - label: t\n"
		);
		fs.writeFileSync(
			path.join(dir, "bad-protocol.yaml"),
			"name: Bad2\nmatch: { vendor_id: '2341' }\ninterface: uart\nprotocol: telepathy\ndatapoints: " +
				"[{ label: t }]\n"
		);
		fs.writeFileSync(
			path.join(dir, "bad-modbus.yaml"),
			"name: Bad3\nmatch: { vendor_id: '0403' }\ninterface: uart\nprotocol: modbus\ndatapoints: [{ label: t }]\n"
		);
		fs.writeFileSync(path.join(dir, "broken.yaml"), "name: [unclosed\n");
		fs.writeFileSync(
			path.join(dir, "no-match.yml"),
			"name: Everything\nmatch: {}\ninterface: uart\nprotocol: line\ndatapoints: [{ label: t }]\n"
		);
		const res = loadProfiles(dir);
		expect(res.profiles.map(p => p.name)).toEqual(["Arduino Uno"]);
		const by = (f: string) => res.errors.filter(e => e.file.endsWith(f)).map(e => `${e.field}: ${e.message}`);
		expect(by("bad-vid.yaml")).toEqual(["match.vendor_id: must be a quoted 4-digit hex string like '2341'"]);
		expect(by("bad-protocol.yaml")[0]).toMatch(/^protocol: /);
		expect(by("bad-modbus.yaml")).toEqual(["modbus: protocol modbus needs a modbus register map"]);
		expect(by("broken.yaml")[0]).toMatch(/^\(yaml\): /);
		expect(by("no-match.yml")[0]).toMatch(/^match: /);
		fs.rmSync(dir, { recursive: true, force: true });
	});
});

describe("usb.ids", () => {
	it("names vendors and products from the database (the bundled copy when Debian's is not installed)", () => {
		const ids = loadUsbIds();
		expect(ids.vendors.size).toBeGreaterThan(3000);
		expect(lookupUsb(ids, "046D", "c52b")).toEqual({ vendor: "Logitech, Inc.", product: "Unifying Receiver" });
		expect(lookupUsb(ids, "10c4", "ea60").product).toBe("CP210x UART Bridge");
		expect(lookupUsb(ids, "ffff", "0001")).toEqual({ vendor: undefined, product: undefined });
		expect(fs.existsSync(BUNDLED_USB_IDS)).toBe(true);
	});

	it("parses vendor and product lines, skipping interfaces and the class lists", () => {
		const ids = parseUsbIds(
			"# comment\n1234  Acme\n\t0001  Widget\n\t\t01  Widget interface\nC 00  (Defined at Interface " +
				"level)\n\t01  Audio\n"
		);
		expect(lookupUsb(ids, "1234", "0001")).toEqual({ vendor: "Acme", product: "Widget" });
		expect(ids.vendors.size).toBe(1);
	});

	it("unidentified devices get a readable name, never dropped", () => {
		expect(
			unidentifiedName({
				path: "/dev/ttyUSB0",
				subsystem: "tty",
				properties: { ID_VENDOR_ID: "046d", ID_MODEL_ID: "c52b" }
			})
		).toBe("Logitech, Inc. Unifying Receiver");
		expect(
			unidentifiedName({
				path: "/dev/ttyUSB0",
				subsystem: "tty",
				properties: { ID_VENDOR_ID: "fffe", ID_MODEL_ID: "0001", ID_VENDOR: "Home_Made", ID_MODEL: "Gadget" }
			})
		).toBe("Home Made Gadget");
		expect(
			unidentifiedName({
				path: "/dev/ttyUSB0",
				subsystem: "tty",
				properties: { ID_VENDOR_ID: "fffe", ID_MODEL_ID: "0001" }
			})
		).toBe("USB device fffe:0001");
		expect(unidentifiedName({ path: "/dev/i2c-3", subsystem: "i2c-dev", properties: {} })).toBe(
			"I2C bus /dev/i2c-3"
		);
	});
});

describe("device identity", () => {
	const ev = (p: string, props: Record<string, string>, nodeID = "pi") => ({
		path: p,
		subsystem: "tty",
		properties: props,
		nodeID
	});

	it("a serial number identifies a device wherever it is plugged", () => {
		const a = deviceUid(
			ev("/dev/ttyACM0", {
				ID_VENDOR_ID: "2341",
				ID_MODEL_ID: "0043",
				ID_SERIAL_SHORT: "X1",
				ID_PATH: "pci-0:1:1.0"
			})
		);
		const b = deviceUid(
			ev(
				"/dev/ttyACM3",
				{ ID_VENDOR_ID: "2341", ID_MODEL_ID: "0043", ID_SERIAL_SHORT: "X1", ID_PATH: "pci-0:4:1.0" },
				"other-pi"
			)
		);
		expect(a).toBe(b);
	});

	it("else the USB port (ID_PATH) and VID:PID: ttyUSB0 renumbered to ttyUSB1 stays one device", () => {
		const props = { ID_VENDOR_ID: "1a86", ID_MODEL_ID: "7523", ID_PATH: "pci-0000:00:14.0-usb-0:3:1.0" };
		expect(deviceUid(ev("/dev/ttyUSB0", props))).toBe(deviceUid(ev("/dev/ttyUSB1", props)));
		expect(
			deviceUid({
				path: "/dev/bus/usb/001/004",
				subsystem: "usb",
				properties: { ...props, ID_PATH: "pci-0000:00:14.0-usb-0:3" },
				nodeID: "pi"
			})
		).toBe(deviceUid(ev("/dev/ttyUSB0", props)));
		// Another port, or another node, is another device.
		expect(deviceUid(ev("/dev/ttyUSB0", { ...props, ID_PATH: "pci-0000:00:14.0-usb-0:4:1.0" }))).not.toBe(
			deviceUid(ev("/dev/ttyUSB0", props))
		);
		expect(deviceUid(ev("/dev/ttyUSB0", props, "pi2"))).not.toBe(deviceUid(ev("/dev/ttyUSB0", props)));
		expect(i2cChipUid({ path: "/dev/i2c-1", subsystem: "i2c-dev", properties: {}, nodeID: "pi" }, 0x76)).toBe(
			"i2c:pi:/dev/i2c-1:0x76"
		);
	});

	it("prefers the /dev/serial/by-id link for opening", () => {
		expect(
			stablePath({
				path: "/dev/ttyACM0",
				properties: { DEVLINKS: "/dev/serial/by-path/pci-0:2:1.0 /dev/serial/by-id/usb-Arduino_X1-if00" }
			})
		).toBe("/dev/serial/by-id/usb-Arduino_X1-if00");
		expect(
			stablePath({ path: "/dev/ttyUSB0", properties: { DEVLINKS: "/dev/serial/by-path/pci-0:3:1.0-port0" } })
		).toBe("/dev/ttyUSB0");
	});
});
