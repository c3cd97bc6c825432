/**
 * A simulated Bosch BME280 on a simulated I2C bus. The bus has i2c-bus's promise interface
 * (readByte / readI2cBlock / writeByte …) and the chip answers with the real register map:
 * chip id 0x60 at 0xD0, calibration at 0x88…0xA1 and 0xE1…0xE7, ctrl_hum/ctrl_meas/config,
 * and raw ADC data at 0xF7…0xFE. A missing address fails as a real bus does (ENXIO).
 */

/** Calibration of the datasheet's worked example (T, P) and typical humidity trimming. */
export const EXAMPLE_CALIBRATION = {
	T1: 27504,
	T2: 26435,
	T3: -1000,
	P1: 36477,
	P2: -10685,
	P3: 3024,
	P4: 2855,
	P5: 140,
	P6: -7,
	P7: 15500,
	P8: -14600,
	P9: 6000,
	H1: 75,
	H2: 362,
	H3: 0,
	H4: 313,
	H5: 50,
	H6: 30
};

export interface I2cChip {
	read(register: number): number;
	write(register: number, value: number): void;
}

export class SimulatedBme280 implements I2cChip {
	private readonly regs = new Uint8Array(256);
	/** Raw ADC values the chip reports (the datasheet example by default: 25.08 °C, 1006.5 hPa). */
	adc = { adcT: 519888, adcP: 415148, adcH: 30000 };

	constructor(cal = EXAMPLE_CALIBRATION) {
		const b1 = Buffer.alloc(26);
		b1.writeUInt16LE(cal.T1, 0);
		b1.writeInt16LE(cal.T2, 2);
		b1.writeInt16LE(cal.T3, 4);
		b1.writeUInt16LE(cal.P1, 6);
		[cal.P2, cal.P3, cal.P4, cal.P5, cal.P6, cal.P7, cal.P8, cal.P9].forEach((v, i) =>
			b1.writeInt16LE(v, 8 + 2 * i)
		);
		b1[25] = cal.H1;
		this.regs.set(b1, 0x88);
		const b2 = Buffer.alloc(7);
		b2.writeInt16LE(cal.H2, 0);
		b2[2] = cal.H3;
		// H4 = E4[7:0] << 4 | E5[3:0];  H5 = E6[7:0] << 4 | E5[7:4]
		b2[3] = (cal.H4 >> 4) & 0xff;
		b2[4] = ((cal.H5 & 0x0f) << 4) | (cal.H4 & 0x0f);
		b2[5] = (cal.H5 >> 4) & 0xff;
		b2.writeInt8(cal.H6, 6);
		this.regs.set(b2, 0xe1);
		this.regs[0xd0] = 0x60;
	}

	read(register: number): number {
		if (register >= 0xf7 && register <= 0xfe) {
			const { adcT, adcP, adcH } = this.adc;
			// Sleep mode (ctrl_meas mode bits 00) reports the reset value 0x80000: "not measured".
			const measuring = (this.regs[0xf4] & 0x03) !== 0;
			const t = measuring ? adcT : 0x80000;
			const p = measuring ? adcP : 0x80000;
			const data = [
				p >> 12,
				(p >> 4) & 0xff,
				(p & 0x0f) << 4,
				t >> 12,
				(t >> 4) & 0xff,
				(t & 0x0f) << 4,
				(adcH >> 8) & 0xff,
				adcH & 0xff
			];
			return data[register - 0xf7];
		}
		return this.regs[register & 0xff];
	}

	write(register: number, value: number): void {
		if (register === 0xe0 && value === 0xb6) {
			this.regs[0xf2] = this.regs[0xf4] = this.regs[0xf5] = 0; // soft reset
			return;
		}
		if ([0xf2, 0xf4, 0xf5].includes(register)) this.regs[register] = value & 0xff;
		// Other registers are read-only on the real chip: writes are ignored.
	}
}

function nxio(address: number): Error {
	const e = new Error(`Remote I/O error: no device at 0x${address.toString(16)}`) as Error & { code: string };
	e.code = "ENXIO";
	return e;
}

/** A bus of simulated chips with i2c-bus's promise interface. */
export class SimulatedI2cBus {
	readonly chips = new Map<number, I2cChip>();

	private chip(address: number): I2cChip {
		const c = this.chips.get(address);
		if (!c) throw nxio(address);
		return c;
	}

	async readByte(address: number, command: number): Promise<number> {
		return this.chip(address).read(command);
	}

	async readI2cBlock(
		address: number,
		command: number,
		length: number,
		buffer: Buffer
	): Promise<{ bytesRead: number; buffer: Buffer }> {
		const c = this.chip(address);
		// Auto-increment of the register address, as the BME280 does on burst reads.
		for (let i = 0; i < length; i++) buffer[i] = c.read((command + i) & 0xff);
		return { bytesRead: length, buffer };
	}

	async writeByte(address: number, command: number, byte: number): Promise<void> {
		this.chip(address).write(command, byte);
	}

	async scan(): Promise<number[]> {
		return [...this.chips.keys()].sort((a, b) => a - b);
	}

	async close(): Promise<void> {}
}
