/** Serial link: opens a tty (the stable by-id link first, the kernel name as fallback). */
import fs from "node:fs";
import { SerialPort } from "serialport";

export interface SerialOptions {
	baudRate: number;
	dataBits?: 5 | 6 | 7 | 8;
	parity?: "none" | "even" | "odd" | "mark" | "space";
	stopBits?: 1 | 1.5 | 2;
}

/** The first of the candidate paths that exists on this node. */
export function resolvePath(primary: string, fallback?: string): string {
	if (fs.existsSync(primary) || !fallback) return primary;
	return fallback;
}

export function openSerial(path: string, opts: SerialOptions): Promise<SerialPort> {
	return new Promise((resolve, reject) => {
		const port = new SerialPort({
			path,
			baudRate: opts.baudRate,
			dataBits: opts.dataBits ?? 8,
			parity: opts.parity ?? "none",
			stopBits: opts.stopBits ?? 1,
			autoOpen: false,
			hupcl: false
		});
		port.open(err => (err ? reject(err) : resolve(port)));
	});
}
