import { describe, expect, it } from "vitest";
import { EXAMPLE_CALIBRATION, SimulatedBme280, SimulatedI2cBus } from "../../services/simulator/bme280-chip";
import {
	Bme280Device,
	compensateHumidity,
	compensateHumidityInt,
	compensatePressure,
	compensatePressureInt64,
	compensateTemperature,
	compensateTemperatureInt,
	parseCalibration,
	parseRaw
} from "../../services/processor/protocols/bme280";
import { LineSplitter, parseLine, type LineState } from "../../services/processor/protocols/line";
import { decodeRegister } from "../../services/processor/protocols/modbus";
import { nmeaChecksum, nmeaCoord, parseNmea } from "../../services/processor/protocols/nmea";

// BMP280/BME280 datasheet worked example (BST-BMP280-DS001 §3.12): same T/P compensation as the BME280.
// The simulated chip (services/simulator/bme280-chip.ts) is calibrated with it.
const EXAMPLE = EXAMPLE_CALIBRATION;

describe("BME280 compensation", () => {
	it("matches the datasheet example: adc_T 519888 → 25.08 °C, t_fine 128422; adc_P 415148 → 100653.27 Pa", () => {
		const t = compensateTemperature(519888, EXAMPLE);
		expect(t.temperature).toBeCloseTo(25.08, 2);
		expect(t.tFine).toBe(128422);
		expect(compensateTemperatureInt(519888, EXAMPLE)).toEqual({ t: 2508, tFine: 128422 });
		const p = compensatePressure(415148, t.tFine, EXAMPLE);
		expect(Math.abs(p - 100653.27)).toBeLessThan(0.05);
		// The 64-bit integer version lands within a pascal of it (Q24.8).
		expect(Math.abs(Number(compensatePressureInt64(415148, t.tFine, EXAMPLE)) / 256 - 100653.27)).toBeLessThan(1);
	});

	it("humidity: the double formula agrees with the datasheet's 32-bit integer formula and clamps to 0…100", () => {
		const { tFine } = compensateTemperature(519888, EXAMPLE);
		for (const adcH of [26000, 30000, 33000, 36000]) {
			const d = compensateHumidity(adcH, tFine, EXAMPLE);
			const i = compensateHumidityInt(adcH, tFine, EXAMPLE) / 1024;
			expect(Math.abs(d - i)).toBeLessThan(0.05);
		}
		expect(compensateHumidity(30000, tFine, EXAMPLE)).toBeCloseTo(55.0, 1);
		expect(compensateHumidity(0, tFine, EXAMPLE)).toBe(0);
		expect(compensateHumidity(65535, tFine, EXAMPLE)).toBe(100);
	});

	it("decodes the calibration registers, including the split H4/H5 nibbles", () => {
		const chip = new SimulatedBme280(EXAMPLE);
		const b1 = Buffer.from(Array.from({ length: 26 }, (_, i) => chip.read(0x88 + i)));
		const b2 = Buffer.from(Array.from({ length: 7 }, (_, i) => chip.read(0xe1 + i)));
		expect(parseCalibration(b1, b2)).toEqual(EXAMPLE);
		const neg = { ...EXAMPLE, H4: -100, H5: -7, H6: -3 };
		const c2 = new SimulatedBme280(neg);
		const n2 = Buffer.from(Array.from({ length: 7 }, (_, i) => c2.read(0xe1 + i)));
		expect(parseCalibration(b1, n2)).toMatchObject({ H4: -100, H5: -7, H6: -3 });
		expect(parseRaw(Buffer.from([0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x75, 0x30]))).toEqual({
			adcP: 415148,
			adcT: 519888,
			adcH: 30000
		});
	});

	it("driver on a simulated I2C bus (mock: no I2C hardware): checks the chip id, configures, reads", async () => {
		const bus = new SimulatedI2cBus();
		bus.chips.set(0x76, new SimulatedBme280());
		const dev = new Bme280Device(bus, 0x76);
		await dev.init();
		const r = await dev.read();
		expect(r.temperature).toBeCloseTo(25.08, 2);
		expect(r.pressure).toBeCloseTo(1006.53, 2);
		expect(r.humidity).toBeCloseTo(55.0, 1);
		await expect(new Bme280Device(bus, 0x77).init()).rejects.toThrow(/no device at 0x77/);
		bus.chips.set(0x77, { read: () => 0x58, write: () => undefined }); // a BMP280 answers 0x58
		await expect(new Bme280Device(bus, 0x77).init()).rejects.toThrow(/chip id 0x58/);
	});
});

describe("NMEA 0183", () => {
	it("parses GGA and RMC with verified checksums", () => {
		const gga = parseNmea("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47");
		expect(gga).toEqual({
			ok: true,
			type: "GGA",
			values: {
				fix_quality: 1,
				satellites: 8,
				latitude: 48.1173,
				longitude: expect.closeTo(11.516667, 5),
				hdop: 0.9,
				altitude: 545.4
			}
		});
		const rmc = parseNmea("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A");
		expect(rmc).toMatchObject({ ok: true, type: "RMC", values: { speed: 22.4, course: 84.4, latitude: 48.1173 } });
		expect(
			parseNmea(
				"$GNGGA,000000,3351.000,S,15112.000,W,1,05,1.2,10,M,,M,,*" +
					nmeaChecksum("GNGGA,000000,3351.000,S,15112.000,W,1,05,1.2,10,M,,M,,")
			)
		).toMatchObject({ ok: true, values: { latitude: -33.85, longitude: -151.2 } });
	});

	it("rejects bad or missing checksums and garbage; ignores other sentence types; no fix → no position", () => {
		expect(parseNmea("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48")).toEqual({
			ok: false,
			reason: expect.stringMatching(/checksum mismatch/)
		});
		expect(parseNmea("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")).toMatchObject({
			ok: false
		});
		expect(parseNmea("\u0000\u00ffgarbage")).toMatchObject({ ok: false });
		expect(parseNmea("$GPGSV,1,1,01,01,40,083,46*" + nmeaChecksum("GPGSV,1,1,01,01,40,083,46"))).toEqual({
			ok: "ignored",
			type: "GSV"
		});
		const nofix = "GPGGA,123519,,,,,0,00,,,M,,M,,";
		expect(parseNmea(`$${nofix}*${nmeaChecksum(nofix)}`)).toEqual({
			ok: true,
			type: "GGA",
			values: { fix_quality: 0, satellites: 0 }
		});
		const void_ = "GPRMC,123519,V,,,,,,,230394,,";
		expect(parseNmea(`$${void_}*${nmeaChecksum(void_)}`)).toEqual({ ok: true, type: "RMC", values: {} });
		expect(nmeaCoord("4807.038", "X", 2)).toBeNull();
		expect(nmeaCoord("48xx", "N", 2)).toBeNull();
	});
});

describe("line protocols", () => {
	const st = (): LineState => ({ csvHeader: null });

	it("key:value pairs in the forms Arduino sketches print", () => {
		expect(parseLine("temperature:23.5,humidity:41", "auto", st())).toEqual({
			ok: true,
			values: { temperature: 23.5, humidity: 41 }
		});
		expect(parseLine("t=23.5 h=41\r", "auto", st())).toEqual({ ok: true, values: { t: 23.5, h: 41 } });
		expect(parseLine("temp: -4.25; hum: 1e2", "kv", st())).toEqual({ ok: true, values: { temp: -4.25, hum: 100 } });
		expect(parseLine("temperature:23.5C,humidity:41 %", "kv", st())).toEqual({
			ok: true,
			values: { temperature: 23.5, humidity: 41 }
		});
		expect(parseLine("temperature:abc", "kv", st())).toMatchObject({ ok: false });
		expect(parseLine("temperature", "kv", st())).toMatchObject({ ok: false });
	});

	it("CSV with a header line, JSON lines, and garbage", () => {
		const s = st();
		expect(parseLine("1,2", "csv", s)).toMatchObject({
			ok: false,
			reason: expect.stringMatching(/before any header/)
		});
		expect(parseLine("temperature,humidity", "auto", s)).toEqual({ ok: "header" });
		expect(parseLine("21.5,40", "auto", s)).toEqual({ ok: true, values: { temperature: 21.5, humidity: 40 } });
		expect(parseLine("21.5", "csv", s)).toMatchObject({ ok: false, reason: expect.stringMatching(/1 cells/) });
		expect(parseLine('{"temperature":21.5,"ok":true,"name":"x","n":"3"}', "auto", st())).toEqual({
			ok: true,
			values: { temperature: 21.5, ok: 1, n: 3 }
		});
		expect(parseLine('{"temperature":', "json", st())).toMatchObject({ ok: false });
		expect(parseLine("[1,2]", "json", st())).toMatchObject({ ok: false });
		expect(parseLine("\u0000\u0013\u00ff", "auto", st())).toEqual({ ok: false, reason: "binary garbage" });
		expect(parseLine("   ", "auto", st())).toMatchObject({ ok: false });
	});

	it("LineSplitter joins half lines across chunks and bounds memory on over-long lines", () => {
		const sp = new LineSplitter(16);
		expect(sp.push(Buffer.from("temp:1"))).toEqual([]);
		expect(sp.pendingBytes).toBe(6);
		expect(sp.push(Buffer.from("2.5\r\nhum:4"))).toEqual(["temp:12.5"]);
		expect(sp.push(Buffer.from("0\n"))).toEqual(["hum:40"]);
		// 40 bytes without a newline: dropped as they come, never buffered beyond the bound.
		expect(sp.push(Buffer.from("x".repeat(20)))).toEqual([]);
		expect(sp.pendingBytes).toBe(0);
		expect(sp.push(Buffer.from("y".repeat(20)))).toEqual([]);
		expect(sp.push(Buffer.from("zz\nok:1\n"))).toEqual(["ok:1"]);
		expect(sp.overlongLines).toBe(1);
		expect(sp.droppedBytes).toBe(43);
		// A complete over-long line in one chunk.
		expect(sp.push(Buffer.from("a".repeat(30) + "\nb:2\n"))).toEqual(["b:2"]);
		expect(sp.overlongLines).toBe(2);
		// A half line when the link drops is forgotten, counted.
		sp.push(Buffer.from("half"));
		sp.reset();
		expect(sp.push(Buffer.from(":1\n"))).toEqual([":1"]);
		expect(sp.droppedBytes).toBe(43 + 31 + 4);
	});
});

describe("Modbus register decoding", () => {
	it("decodes int16/uint16/int32/uint32/float32 with scale", () => {
		expect(decodeRegister([215], "int16", 0.1)).toBe(21.5);
		expect(decodeRegister([0xff9c], "int16", 0.1)).toBe(-10);
		expect(decodeRegister([0xff9c], "uint16")).toBe(65436);
		expect(decodeRegister([0x0001, 0x86a0], "uint32")).toBe(100000);
		expect(decodeRegister([0xffff, 0xfffe], "int32")).toBe(-2);
		expect(decodeRegister([0x41c8, 0x0000], "float32")).toBe(25);
		expect(() => decodeRegister([1], "bcd")).toThrow(/unknown register format/);
	});
});
