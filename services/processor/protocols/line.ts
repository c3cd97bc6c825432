/**
 * Line-based device output, as Arduino sketches print it:
 *   key:value pairs   "temperature:23.5,humidity:41"  (also "t=23.5 h=41", ';' or tabs)
 *   CSV               a header line "temperature,humidity" then "23.5,41"
 *   JSON lines        {"temperature":23.5,"humidity":41}
 * `auto` tells them apart line by line.
 */
import type { LineFormat } from "../../shared/contracts/devices";

/**
 * Splits a byte stream into lines with bounded memory: an unterminated line longer than
 * `maxLine` bytes is discarded up to the next newline and counted, never kept growing.
 */
export class LineSplitter {
	private parts: Buffer[] = [];
	private partLen = 0;
	private discarding = false;
	/** Bytes thrown away because a line exceeded maxLine (reported, never silent). */
	droppedBytes = 0;
	/** Lines discarded for being too long. */
	overlongLines = 0;

	constructor(private readonly maxLine: number) {}

	push(chunk: Buffer): string[] {
		const lines: string[] = [];
		let start = 0;
		for (;;) {
			const nl = chunk.indexOf(10, start);
			if (nl < 0) break;
			const piece = chunk.subarray(start, nl);
			if (this.discarding) {
				this.droppedBytes += piece.length + 1;
				this.discarding = false;
			} else if (this.partLen + piece.length > this.maxLine) {
				this.droppedBytes += this.partLen + piece.length + 1;
				this.overlongLines++;
			} else {
				const line = this.partLen
					? Buffer.concat([...this.parts, piece]).toString("utf8")
					: piece.toString("utf8");
				lines.push(line.replace(/\r$/, ""));
			}
			this.parts = [];
			this.partLen = 0;
			start = nl + 1;
		}
		const rest = chunk.subarray(start);
		if (rest.length) {
			if (this.discarding) this.droppedBytes += rest.length;
			else if (this.partLen + rest.length > this.maxLine) {
				// Too long already: drop what we hold and the rest of this line when it comes.
				this.droppedBytes += this.partLen + rest.length;
				this.overlongLines++;
				this.parts = [];
				this.partLen = 0;
				this.discarding = true;
			} else {
				this.parts.push(Buffer.from(rest));
				this.partLen += rest.length;
			}
		}
		return lines;
	}

	/** A half line left when the link drops is not a reading: forget it. */
	reset(): void {
		this.droppedBytes += this.partLen;
		this.parts = [];
		this.partLen = 0;
		this.discarding = false;
	}

	get pendingBytes(): number {
		return this.partLen;
	}
}

export type { LineFormat } from "../../shared/contracts/devices";

export type ParseResult =
	{ ok: true; values: Record<string, number> } | { ok: false; reason: string } | { ok: "header" };

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function toNumber(s: string): number | null {
	const t = s.trim();
	if (!NUMBER.test(t)) return null;
	const n = Number(t);
	return Number.isFinite(n) ? n : null;
}

/** Per-device state of the line parser (the CSV header seen last). */
export interface LineState {
	csvHeader: string[] | null;
}

function parseKv(line: string): ParseResult {
	const values: Record<string, number> = {};
	const pairs = line.split(/[,;\t]|\s+(?=[A-Za-z_][\w.-]*\s*[:=])/);
	for (const raw of pairs) {
		const pair = raw.trim();
		if (!pair) continue;
		const m = /^([A-Za-z_][\w.-]*)\s*[:=]\s*(.+)$/.exec(pair);
		if (!m) return { ok: false, reason: `not a key:value pair: '${pair.slice(0, 40)}'` };
		const n = toNumber(m[2].replace(/\s*[A-Za-z%°]+$/, "")); // "23.5C", "41 %" → number
		if (n == null) return { ok: false, reason: `value of '${m[1]}' is not a number` };
		values[m[1]] = n;
	}
	if (Object.keys(values).length === 0) return { ok: false, reason: "empty line" };
	return { ok: true, values };
}

function parseJson(line: string): ParseResult {
	let obj: unknown;
	try {
		obj = JSON.parse(line);
	} catch {
		return { ok: false, reason: "invalid JSON" };
	}
	if (!obj || typeof obj !== "object" || Array.isArray(obj))
		return { ok: false, reason: "JSON line is not an object" };
	const values: Record<string, number> = {};
	for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
		if (typeof v === "number" && Number.isFinite(v)) values[k] = v;
		else if (typeof v === "boolean") values[k] = v ? 1 : 0;
		else if (typeof v === "string" && toNumber(v) != null) values[k] = toNumber(v)!;
	}
	if (Object.keys(values).length === 0) return { ok: false, reason: "JSON line has no numeric field" };
	return { ok: true, values };
}

function parseCsv(line: string, state: LineState): ParseResult {
	const cells = line.split(/[,;\t]/).map(c => c.trim());
	const numbers = cells.map(toNumber);
	if (numbers.every(n => n == null) && cells.every(c => /^[A-Za-z_][\w.-]*$/.test(c))) {
		state.csvHeader = cells;
		return { ok: "header" };
	}
	if (!state.csvHeader) return { ok: false, reason: "CSV row before any header line" };
	if (cells.length !== state.csvHeader.length)
		return { ok: false, reason: `CSV row has ${cells.length} cells, header has ${state.csvHeader.length}` };
	const values: Record<string, number> = {};
	state.csvHeader.forEach((h, i) => {
		if (numbers[i] != null) values[h] = numbers[i]!;
	});
	if (Object.keys(values).length === 0) return { ok: false, reason: "CSV row has no number" };
	return { ok: true, values };
}

export function parseLine(line: string, format: LineFormat, state: LineState): ParseResult {
	const text = line.trim();
	if (!text) return { ok: false, reason: "empty line" };
	// Control characters other than tab mean line noise (wrong baud rate, garbage on connect).
	// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
	if (/[\x00-\x08\x0b-\x1f\x7f\ufffd]/.test(text)) return { ok: false, reason: "binary garbage" };
	switch (format) {
		case "kv":
			return parseKv(text);
		case "json":
			return parseJson(text);
		case "csv":
			return parseCsv(text, state);
		default:
			if (text.startsWith("{")) return parseJson(text);
			if (/^[A-Za-z_][\w.-]*\s*[:=]/.test(text)) return parseKv(text);
			return parseCsv(text, state);
	}
}
