/**
 * Bosch BME280 over I2C: chip-id check, calibration read, and the datasheet's compensation
 * formulas (BST-BME280-DS002 §4.2.3 and §8.1: the double-precision versions for the values,
 * the 32-bit integer versions kept for cross-checking).
 */

/** The promise API of i2c-bus that this driver uses; a simulated bus implements the same. */
export interface I2cBusLike {
	readByte(address: number, command: number): Promise<number>;
	readI2cBlock(
		address: number,
		command: number,
		length: number,
		buffer: Buffer
	): Promise<{ bytesRead: number; buffer: Buffer }>;
	writeByte(address: number, command: number, byte: number): Promise<void>;
	close?(): Promise<void>;
}

export const BME280 = {
	CHIP_ID: 0x60,
	REG_ID: 0xd0,
	REG_RESET: 0xe0,
	REG_CALIB00: 0x88, // 26 bytes: T1..T3, P1..P9, (0xA0), H1 at 0xA1
	REG_CALIB26: 0xe1, // 7 bytes: H2..H6
	REG_CTRL_HUM: 0xf2,
	REG_STATUS: 0xf3,
	REG_CTRL_MEAS: 0xf4,
	REG_CONFIG: 0xf5,
	REG_DATA: 0xf7 // 8 bytes: press msb/lsb/xlsb, temp msb/lsb/xlsb, hum msb/lsb
} as const;

export interface Bme280Calibration {
	T1: number;
	T2: number;
	T3: number;
	P1: number;
	P2: number;
	P3: number;
	P4: number;
	P5: number;
	P6: number;
	P7: number;
	P8: number;
	P9: number;
	H1: number;
	H2: number;
	H3: number;
	H4: number;
	H5: number;
	H6: number;
}

/** Decodes the two calibration blocks (0x88…0xA1, 26 bytes; 0xE1…0xE7, 7 bytes). */
export function parseCalibration(b1: Buffer, b2: Buffer): Bme280Calibration {
	if (b1.length < 26 || b2.length < 7) throw new Error("BME280 calibration blocks too short");
	const e4 = b2.readInt8(3);
	const e5 = b2[4];
	const e6 = b2.readInt8(5);
	return {
		T1: b1.readUInt16LE(0),
		T2: b1.readInt16LE(2),
		T3: b1.readInt16LE(4),
		P1: b1.readUInt16LE(6),
		P2: b1.readInt16LE(8),
		P3: b1.readInt16LE(10),
		P4: b1.readInt16LE(12),
		P5: b1.readInt16LE(14),
		P6: b1.readInt16LE(16),
		P7: b1.readInt16LE(18),
		P8: b1.readInt16LE(20),
		P9: b1.readInt16LE(22),
		H1: b1[25],
		H2: b2.readInt16LE(0),
		H3: b2[2],
		H4: (e4 * 16) | (e5 & 0x0f),
		H5: (e6 * 16) | (e5 >> 4),
		H6: b2.readInt8(6)
	};
}

/** Raw ADC values from the 8 data bytes at 0xF7. */
export function parseRaw(d: Buffer): { adcP: number; adcT: number; adcH: number } {
	return {
		adcP: (d[0] << 12) | (d[1] << 4) | (d[2] >> 4),
		adcT: (d[3] << 12) | (d[4] << 4) | (d[5] >> 4),
		adcH: (d[6] << 8) | d[7]
	};
}

/** Temperature in °C and t_fine (datasheet double formula). */
export function compensateTemperature(adcT: number, c: Bme280Calibration): { temperature: number; tFine: number } {
	const var1 = (adcT / 16384.0 - c.T1 / 1024.0) * c.T2;
	const var2 = (adcT / 131072.0 - c.T1 / 8192.0) * (adcT / 131072.0 - c.T1 / 8192.0) * c.T3;
	// The datasheet's double code truncates t_fine to a 32-bit integer before using it further.
	return { temperature: (var1 + var2) / 5120.0, tFine: Math.trunc(var1 + var2) };
}

/** Pressure in Pa (datasheet double formula). */
export function compensatePressure(adcP: number, tFine: number, c: Bme280Calibration): number {
	let var1 = tFine / 2.0 - 64000.0;
	let var2 = (var1 * var1 * c.P6) / 32768.0;
	var2 = var2 + var1 * c.P5 * 2.0;
	var2 = var2 / 4.0 + c.P4 * 65536.0;
	var1 = ((c.P3 * var1 * var1) / 524288.0 + c.P2 * var1) / 524288.0;
	var1 = (1.0 + var1 / 32768.0) * c.P1;
	if (var1 === 0) return 0; // avoid division by zero (datasheet)
	let p = 1048576.0 - adcP;
	p = ((p - var2 / 4096.0) * 6250.0) / var1;
	var1 = (c.P9 * p * p) / 2147483648.0;
	var2 = (p * c.P8) / 32768.0;
	return p + (var1 + var2 + c.P7) / 16.0;
}

/** Relative humidity in % (datasheet double formula, clamped to 0…100). */
export function compensateHumidity(adcH: number, tFine: number, c: Bme280Calibration): number {
	let h = tFine - 76800.0;
	h =
		(adcH - (c.H4 * 64.0 + (c.H5 / 16384.0) * h)) *
		((c.H2 / 65536.0) * (1.0 + (c.H6 / 67108864.0) * h * (1.0 + (c.H3 / 67108864.0) * h)));
	h = h * (1.0 - (c.H1 * h) / 524288.0);
	return Math.min(100, Math.max(0, h));
}

const sr = (x: number, n: number) => Math.floor(x / 2 ** n); // C's >> on signed values

/** 32-bit integer temperature (0.01 °C) and t_fine: the datasheet's fixed-point reference. */
export function compensateTemperatureInt(adcT: number, c: Bme280Calibration): { t: number; tFine: number } {
	const var1 = sr((sr(adcT, 3) - c.T1 * 2) * c.T2, 11);
	const var2 = sr(sr((sr(adcT, 4) - c.T1) * (sr(adcT, 4) - c.T1), 12) * c.T3, 14);
	const tFine = var1 + var2;
	return { t: sr(tFine * 5 + 128, 8), tFine };
}

/** 32-bit integer humidity in Q22.10 %RH: the datasheet's fixed-point reference. */
export function compensateHumidityInt(adcH: number, tFine: number, c: Bme280Calibration): number {
	let v = tFine - 76800;
	const a = sr(adcH * 16384 - c.H4 * 1048576 - c.H5 * v + 16384, 15);
	const b = sr((sr(sr(v * c.H6, 10) * (sr(v * c.H3, 11) + 32768), 10) + 2097152) * c.H2 + 8192, 14);
	v = a * b;
	v = v - sr(sr(sr(v, 15) * sr(v, 15), 7) * c.H1, 4);
	v = Math.min(419430400, Math.max(0, v));
	return sr(v, 12);
}

/** 64-bit integer pressure in Pa as Q24.8 (value / 256 = Pa): the datasheet's fixed-point reference. */
export function compensatePressureInt64(adcP: number, tFine: number, c: Bme280Calibration): bigint {
	const B = BigInt;
	let var1 = B(tFine) - 128000n;
	let var2 = var1 * var1 * B(c.P6);
	var2 = var2 + ((var1 * B(c.P5)) << 17n);
	var2 = var2 + (B(c.P4) << 35n);
	var1 = ((var1 * var1 * B(c.P3)) >> 8n) + ((var1 * B(c.P2)) << 12n);
	var1 = (((1n << 47n) + var1) * B(c.P1)) >> 33n;
	if (var1 === 0n) return 0n;
	let p = 1048576n - B(adcP);
	p = (((p << 31n) - var2) * 3125n) / var1;
	var1 = (B(c.P9) * (p >> 13n) * (p >> 13n)) >> 25n;
	var2 = (B(c.P8) * p) >> 19n;
	return ((p + var1 + var2) >> 8n) + (B(c.P7) << 4n);
}

export interface Bme280Reading {
	temperature: number;
	/** hPa */
	pressure: number;
	humidity: number;
}

export function compensate(raw: { adcP: number; adcT: number; adcH: number }, c: Bme280Calibration): Bme280Reading {
	const { temperature, tFine } = compensateTemperature(raw.adcT, c);
	return {
		temperature,
		pressure: compensatePressure(raw.adcP, tFine, c) / 100,
		humidity: compensateHumidity(raw.adcH, tFine, c)
	};
}

/** Driver: check the chip, read its calibration once, run it in normal mode, read compensated values. */
export class Bme280Device {
	private cal: Bme280Calibration | null = null;

	constructor(
		private readonly bus: I2cBusLike,
		readonly address: number
	) {}

	async init(): Promise<Bme280Calibration> {
		const id = await this.bus.readByte(this.address, BME280.REG_ID);
		if (id !== BME280.CHIP_ID)
			throw new Error(
				`no BME280 at 0x${this.address.toString(16)}: chip id 0x${id.toString(16)} (expected 0x60)`
			);
		const b1 = Buffer.alloc(26);
		const b2 = Buffer.alloc(7);
		await this.bus.readI2cBlock(this.address, BME280.REG_CALIB00, 26, b1);
		await this.bus.readI2cBlock(this.address, BME280.REG_CALIB26, 7, b2);
		this.cal = parseCalibration(b1, b2);
		// Humidity oversampling x1 (takes effect on the ctrl_meas write), then T/P x1 in normal
		// mode, 1000 ms standby, filter off.
		await this.bus.writeByte(this.address, BME280.REG_CTRL_HUM, 0x01);
		await this.bus.writeByte(this.address, BME280.REG_CTRL_MEAS, 0x27);
		await this.bus.writeByte(this.address, BME280.REG_CONFIG, 0xa0);
		return this.cal;
	}

	async read(): Promise<Bme280Reading> {
		if (!this.cal) await this.init();
		const d = Buffer.alloc(8);
		await this.bus.readI2cBlock(this.address, BME280.REG_DATA, 8, d);
		const raw = parseRaw(d);
		// 0x80000 / 0x8000 are the "measurement skipped / not ready" values.
		if (raw.adcT === 0x80000) throw new Error("BME280 temperature not measured yet");
		return compensate(raw, this.cal!);
	}
}
