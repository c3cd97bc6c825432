/**
 * Readings: raw MQTT messages on `iot.raw` (ingest → decode) and decoded readings on
 * `telemetry.readings` (processor and decode → sink and monitoring). Both are durable channels.
 */
import { INT32_MAX } from "../params";

export const READING_CHANNELS = {
	iotRaw: "iot.raw",
	telemetryReadings: "telemetry.readings"
} as const;

export interface RawMqttMessage {
	topic: string;
	/** base64 of the bytes as received */
	payload: string;
	receivedAt: string;
}

/** The first iot.raw shape (still decoded: a durable stream may hold such messages from before an upgrade). */
export interface IotRawBatch {
	messages: RawMqttMessage[];
}

/** One MQTT message as the ingest received it (what a packed iot.raw message carries). */
export interface RawEntry {
	topic: string;
	payload: Buffer;
	/** epoch ms */
	receivedAt: number;
}

/**
 * iot.raw as the ingest sends it: the batch's distinct topics, and one base64 string of binary
 * entries, each `u16 topic index, f64 receivedAt (epoch ms), u16 payload length, payload`
 * (big-endian). One string instead of an object with three strings per MQTT message: the
 * channel's JSON (de)serialisation, the per-message base64 and the garbage they made were the
 * largest costs of the ingest → decode hop.
 */
export interface PackedIotRawBatch {
	v: 2;
	topics: string[];
	packed: string;
}

/** Bytes of one packed entry besides its payload. */
export const RAW_ENTRY_OVERHEAD = 12;

/** Largest payload a packed entry holds (its length is a u16); the ingest dead-letters bigger ones. */
export const RAW_MAX_PAYLOAD = 0xffff;

export function packRawBatch(entries: RawEntry[]): PackedIotRawBatch {
	const topics: string[] = [];
	const index = new Map<string, number>();
	let bytes = 0;
	for (const e of entries) bytes += RAW_ENTRY_OVERHEAD + e.payload.length;
	const buf = Buffer.allocUnsafe(bytes);
	let o = 0;
	for (const e of entries) {
		let t = index.get(e.topic);
		if (t === undefined) {
			t = topics.push(e.topic) - 1;
			index.set(e.topic, t);
		}
		o = buf.writeUInt16BE(t, o);
		o = buf.writeDoubleBE(e.receivedAt, o);
		o = buf.writeUInt16BE(e.payload.length, o);
		o += e.payload.copy(buf, o);
	}
	return { v: 2, topics, packed: buf.toString("base64") };
}

/** The entries of a packed batch; throws (naming what is wrong) when it is malformed. */
export function unpackRawBatch(batch: PackedIotRawBatch): RawEntry[] {
	if (!Array.isArray(batch.topics) || typeof batch.packed !== "string")
		throw new Error("packed iot.raw message needs a topics array and a packed string");
	const buf = Buffer.from(batch.packed, "base64");
	const out: RawEntry[] = [];
	let o = 0;
	while (o < buf.length) {
		if (o + RAW_ENTRY_OVERHEAD > buf.length) throw new Error(`packed iot.raw entry cut short at byte ${o}`);
		const topic = batch.topics[buf.readUInt16BE(o)];
		const receivedAt = buf.readDoubleBE(o + 2);
		const len = buf.readUInt16BE(o + 10);
		o += RAW_ENTRY_OVERHEAD;
		if (typeof topic !== "string" || o + len > buf.length)
			throw new Error(`packed iot.raw entry at byte ${o - RAW_ENTRY_OVERHEAD} is malformed`);
		// A view, not a copy: the batch's buffer lives as long as its entries.
		out.push({ topic, receivedAt, payload: buf.subarray(o, o + len) });
		o += len;
	}
	return out;
}

export interface Reading {
	deviceId: number;
	datapointId: number;
	value: number;
	/** ISO 8601 or epoch milliseconds */
	ts: string | number;
}

/** The first telemetry.readings shape (still read: a durable stream may hold it from before an upgrade). */
export interface TelemetryBatch {
	readings: Reading[];
}

/**
 * telemetry.readings as the decoder and the processor send it: one base64 string of fixed-size
 * entries, each `i32 deviceId, i32 datapointId, f64 value, f64 ts (epoch ms)` (little-endian,
 * 24 bytes). One string instead of an object of four fields per reading: the channel's JSON
 * (de)serialisation of those objects, once per consumer group (the sink, monitoring,
 * automation), and the garbage it made were the largest costs of the decode → sink hop.
 * Readings that do not fit an entry (they fail `readingProblem`) travel as they came in
 * `readings`, so every consumer refuses them with the same reason as in the first shape.
 */
export interface PackedTelemetryBatch {
	v: 2;
	packed: string;
	readings?: unknown[];
}

/** Bytes of one packed reading. */
export const READING_ENTRY_BYTES = 24;

export function packReadings(readings: readonly Reading[]): PackedTelemetryBatch {
	const buf = Buffer.allocUnsafe(readings.length * READING_ENTRY_BYTES);
	let bad: unknown[] | undefined;
	let o = 0;
	for (const r of readings) {
		const ts = typeof r.ts === "number" ? r.ts : toEpochMs(r.ts);
		if (readingProblem(r) !== null || ts === null) {
			(bad ??= []).push(r);
			continue;
		}
		buf.writeInt32LE(r.deviceId, o);
		buf.writeInt32LE(r.datapointId, o + 4);
		buf.writeDoubleLE(r.value, o + 8);
		buf.writeDoubleLE(ts, o + 16);
		o += READING_ENTRY_BYTES;
	}
	const packed = buf.toString("base64", 0, o);
	return bad ? { v: 2, packed, readings: bad } : { v: 2, packed };
}

/**
 * The readings of a packed batch (each `ts` epoch ms), then the ones that travelled unpacked;
 * throws (naming what is wrong) when it is malformed. The entries are not checked here: each
 * consumer checks every reading with `readingProblem`, whichever shape it came in.
 */
export function unpackReadings(batch: PackedTelemetryBatch): unknown[] {
	if (typeof batch.packed !== "string") throw new Error("packed telemetry.readings message needs a packed string");
	if (batch.readings !== undefined && !Array.isArray(batch.readings))
		throw new Error("packed telemetry.readings message: readings is not an array");
	const buf = Buffer.from(batch.packed, "base64");
	if (buf.length % READING_ENTRY_BYTES !== 0)
		throw new Error(
			`packed telemetry.readings is ${buf.length} bytes, not a multiple of ${READING_ENTRY_BYTES} (cut short?)`
		);
	const out: unknown[] = new Array(buf.length / READING_ENTRY_BYTES);
	for (let i = 0, o = 0; o < buf.length; i++, o += READING_ENTRY_BYTES)
		out[i] = {
			deviceId: buf.readInt32LE(o),
			datapointId: buf.readInt32LE(o + 4),
			value: buf.readDoubleLE(o + 8),
			ts: buf.readDoubleLE(o + 16)
		};
	if (batch.readings) for (const r of batch.readings) out.push(r);
	return out;
}

/**
 * The readings of a telemetry.readings message, packed or in the first `{ readings }` shape,
 * unchecked; throws (naming what is wrong) when it is neither or is malformed.
 */
export function readingsOf(payload: unknown): unknown[] {
	const p = payload as { v?: unknown; packed?: unknown; readings?: unknown } | null;
	if (p != null && p.packed !== undefined) return unpackReadings(p as PackedTelemetryBatch);
	if (Array.isArray(p?.readings)) return p.readings;
	throw new Error("telemetry.readings message has neither packed entries nor a readings array");
}

/**
 * Checks one reading of a telemetry.readings batch; returns the problem or null. Every consumer
 * of the channel (the sink, monitoring) checks with this, so they accept and refuse the same.
 */
export function readingProblem(r: unknown): string | null {
	if (r == null || typeof r !== "object") return "reading is not an object";
	const { deviceId, datapointId, value, ts } = r as Record<string, unknown>;
	if (!isInt4Id(deviceId)) return `deviceId ${JSON.stringify(deviceId)} is not a positive int4`;
	if (!isInt4Id(datapointId)) return `datapointId ${JSON.stringify(datapointId)} is not a positive int4`;
	if (typeof value !== "number" || !Number.isFinite(value))
		return `value ${JSON.stringify(value)} is not a finite number`;
	if (toEpochMs(ts) == null) return `ts ${JSON.stringify(ts)} is not epoch milliseconds or ISO 8601`;
	return null;
}

/** A reading that passed `readingProblem`, its `ts` as epoch ms. */
export interface EpochReading {
	deviceId: number;
	datapointId: number;
	value: number;
	ts: number;
}

export interface CheckedReadings {
	accepted: EpochReading[];
	refused: { reading: unknown; problem: string }[];
}

/**
 * Every reading of a message checked with `readingProblem`: the accepted ones with `ts` as epoch
 * ms, the refused ones with their problem. A reading whose `ts` already is a number (every packed
 * entry) is kept as the object it is, not copied: one object per reading and consumer instead of two.
 */
export function checkReadings(list: readonly unknown[]): CheckedReadings {
	const accepted: EpochReading[] = [];
	const refused: CheckedReadings["refused"] = [];
	for (const r of list) {
		const problem = readingProblem(r);
		if (problem !== null) refused.push({ reading: r, problem });
		else {
			const reading = r as Reading;
			accepted.push(
				typeof reading.ts === "number"
					? (reading as EpochReading)
					: {
							deviceId: reading.deviceId,
							datapointId: reading.datapointId,
							value: reading.value,
							ts: toEpochMs(reading.ts)!
						}
			);
		}
	}
	return { accepted, refused };
}

export function isReading(r: unknown): r is Reading {
	return readingProblem(r) === null;
}

/**
 * INT32_MAX read once: the compiled CommonJS makes an imported constant a getter on the other
 * module's exports, and this check runs twice per reading (1.3 % of a pipeline node's busy time).
 */
const INT4_MAX = INT32_MAX;

function isInt4Id(v: unknown): v is number {
	return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= INT4_MAX;
}

/** A reading's `ts` (epoch ms or ISO 8601) as epoch ms; null when it is neither. */
export function toEpochMs(ts: unknown): number | null {
	if (typeof ts === "number") return Number.isFinite(ts) && Math.abs(ts) < 8.64e15 ? ts : null;
	if (typeof ts === "string") {
		const ms = Date.parse(ts);
		return Number.isNaN(ms) ? null : ms;
	}
	return null;
}
