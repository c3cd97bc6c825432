/**
 * What the simulated devices say: an Arduino sketch's sensor lines, a GPS receiver's NMEA,
 * a Modbus RTU temperature/humidity transmitter. Plain functions and small classes; the
 * simulator's devices mixin puts them on PTYs.
 */
import type { UdevProperties } from "../shared/contracts";
import { nmeaChecksum } from "./nmea-out";

export type VirtualKind = "arduino-uno" | "arduino-mega" | "ch340" | "esp32" | "gps" | "modbus-sensor" | "bme280";
export const VIRTUAL_KINDS: VirtualKind[] = [
	"arduino-uno",
	"arduino-mega",
	"ch340",
	"esp32",
	"gps",
	"modbus-sensor",
	"bme280"
];

/** The USB identity of each kind of board, as its udev event reports it. */
const USB_IDENTITIES: Record<Exclude<VirtualKind, "bme280">, UdevProperties> = {
	"arduino-uno": {
		ID_VENDOR_ID: "2341",
		ID_MODEL_ID: "0043",
		ID_VENDOR: "Arduino__www.arduino.cc_",
		ID_VENDOR_FROM_DATABASE: "Arduino SA",
		ID_MODEL: "0043",
		ID_MODEL_FROM_DATABASE: "Uno R3 (CDC ACM)"
	},
	"arduino-mega": {
		ID_VENDOR_ID: "2341",
		ID_MODEL_ID: "0042",
		ID_VENDOR: "Arduino__www.arduino.cc_",
		ID_VENDOR_FROM_DATABASE: "Arduino SA",
		ID_MODEL: "0042",
		ID_MODEL_FROM_DATABASE: "Mega 2560 R3 (CDC ACM)"
	},
	ch340: {
		ID_VENDOR_ID: "1a86",
		ID_MODEL_ID: "7523",
		ID_VENDOR: "1a86",
		ID_VENDOR_FROM_DATABASE: "QinHeng Electronics",
		ID_MODEL: "USB2.0-Serial",
		ID_MODEL_FROM_DATABASE: "CH340 serial converter"
	},
	esp32: {
		ID_VENDOR_ID: "10c4",
		ID_MODEL_ID: "ea60",
		ID_VENDOR: "Silicon_Labs",
		ID_VENDOR_FROM_DATABASE: "Silicon Labs",
		ID_MODEL: "ESP32_DevKitC_CP2102",
		ID_MODEL_FROM_DATABASE: "CP210x UART Bridge"
	},
	gps: {
		ID_VENDOR_ID: "1546",
		ID_MODEL_ID: "01a7",
		ID_VENDOR: "u-blox_AG_-_www.u-blox.com",
		ID_VENDOR_FROM_DATABASE: "U-Blox AG",
		ID_MODEL: "u-blox_7_-_GPS_GNSS_Receiver",
		ID_MODEL_FROM_DATABASE: "[u-blox 7]"
	},
	"modbus-sensor": {
		ID_VENDOR_ID: "0403",
		ID_MODEL_ID: "6001",
		ID_VENDOR: "FTDI",
		ID_VENDOR_FROM_DATABASE: "Future Technology Devices International, Ltd",
		ID_MODEL: "USB-RS485_Cable",
		ID_MODEL_FROM_DATABASE: "FT232 Serial (UART) IC"
	}
};

/** Boards without a USB serial number (CH340 clones, the GPS receiver): identified by their port. */
const WITHOUT_SERIAL = new Set<VirtualKind>(["ch340", "gps"]);

/** The udev properties a real unit of each kind reports (the udev event's properties). */
export function udevPropertiesFor(kind: VirtualKind, serial: string | undefined, port: number): UdevProperties {
	if (kind === "bme280") return { ID_PATH: `sim-i2c-${port}`, ID_MODEL: "Simulated_I2C_adapter" };
	return {
		ID_BUS: "usb",
		ID_PATH: `sim-usb-0:${port}:1.0`,
		ID_USB_INTERFACE_NUM: "00",
		...USB_IDENTITIES[kind],
		...(WITHOUT_SERIAL.has(kind) ? {} : { ID_SERIAL_SHORT: serial })
	};
}

/** by-id link name as udev builds it: usb-<vendor>_<model>_<serial>-if00. */
export function byIdName(props: UdevProperties): string {
	const serial = props.ID_SERIAL_SHORT ? `_${props.ID_SERIAL_SHORT}` : "";
	return `usb-${props.ID_VENDOR ?? "unknown"}_${props.ID_MODEL ?? "unknown"}${serial}-if00`;
}

/** An Arduino sketch's output: a script of lines (cycled), or slowly varying sensor values. */
export function arduinoLine(n: number, script?: string[]): string {
	if (script && script.length) return script[n % script.length];
	const t = 22 + 2 * Math.sin(n / 30);
	const h = 45 + 5 * Math.cos(n / 40);
	const light = 300 + ((n * 7) % 200);
	return `temperature:${t.toFixed(2)},humidity:${h.toFixed(1)},light:${light}`;
}

export function esp32Line(n: number): string {
	return JSON.stringify({
		temperature: Number((24 + Math.sin(n / 20)).toFixed(2)),
		humidity: Number((50 + Math.cos(n / 25)).toFixed(1)),
		rssi: -60 - (n % 10),
		heap: 200_000 - (n % 1000)
	});
}

/** A GPS receiver's second: GGA and RMC for a position drifting slowly around a start point. */
export function gpsSentences(n: number, start = { lat: 48.1173, lon: 11.5167 }): string[] {
	const lat = start.lat + n * 0.00001;
	const lon = start.lon + n * 0.00001;
	const d = new Date(Date.UTC(2026, 0, 1, 12, 0, n % 60));
	const two = (v: number) => String(v).padStart(2, "0");
	const hhmmss = `${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}.00`;
	const fmt = (v: number, degDigits: number) => {
		const a = Math.abs(v);
		const deg = Math.floor(a);
		return `${String(deg).padStart(degDigits, "0")}${((a - deg) * 60).toFixed(4).padStart(7, "0")}`;
	};
	const pos = `${fmt(lat, 2)},${lat >= 0 ? "N" : "S"},${fmt(lon, 3)},${lon >= 0 ? "E" : "W"}`;
	const gga = `GPGGA,${hhmmss},${pos},1,08,0.9,545.4,M,46.9,M,,`;
	const rmc = `GPRMC,${hhmmss},A,${pos},000.5,054.7,010126,,,A`;
	return [gga, rmc, "GPGSV,1,1,01,01,40,083,46"].map(b => `$${b}*${nmeaChecksum(b)}`);
}
