/** Modbus register maps: decoding the 16-bit words a sensor returns into labelled values. */
import type { ModbusRegister } from "../../shared/contracts/devices";

/** A register of a profile's map: the shared contract (processor.open). */
export type RegisterDef = ModbusRegister;

export function registerWidth(format: string): number {
	return format === "int32" || format === "uint32" || format === "float32" ? 2 : 1;
}

/** Decodes one register (or register pair, big-endian word order) into a number. */
export function decodeRegister(words: number[], format: string, scale = 1): number {
	const b = Buffer.alloc(4);
	b.writeUInt16BE(words[0] & 0xffff, 0);
	b.writeUInt16BE((words[1] ?? 0) & 0xffff, 2);
	let v: number;
	switch (format) {
		case "int16":
			v = b.readInt16BE(0);
			break;
		case "uint16":
			v = b.readUInt16BE(0);
			break;
		case "int32":
			v = b.readInt32BE(0);
			break;
		case "uint32":
			v = b.readUInt32BE(0);
			break;
		case "float32":
			v = b.readFloatBE(0);
			break;
		default:
			throw new Error(`unknown register format ${format}`);
	}
	// Round away float noise of the scale (0.1 * 215 = 21.500000000000004).
	return Math.round(v * scale * 1e9) / 1e9;
}
