/**
 * FACES2 frame decoding, driven by metadata (plain functions; see docs/pipeline.md).
 *
 *   topic    stat/f2-<mac>/sensor-mode/<mode>/sensor-<n>   (or tele/… of the same shape)
 *   payload  { "timestamp": <epoch s | epoch ms | ISO 8601>, "data": "<hex frame>" }
 *
 * Every failure is a DecodeError with a stable code, so a dead letter says exactly why.
 */
import type { Reading } from "../shared/contracts";
import { FACES2_TOPIC, FIELD_TYPES, type FieldType } from "../shared/contracts/faces2";

export type DecodeErrorCode =
	| "BAD_TOPIC"
	| "BAD_PAYLOAD"
	| "BAD_HEX"
	| "UNKNOWN_MAC"
	| "UNKNOWN_SENSOR"
	| "WRONG_LENGTH"
	| "BAD_TIMESTAMP"
	| "TIMESTAMP_OUT_OF_RANGE"
	| "BAD_METADATA";

export class DecodeError extends Error {
	constructor(
		readonly code: DecodeErrorCode,
		message: string
	) {
		super(message);
		this.name = "DecodeError";
	}
}

// The field types and topic grammar are the protocol's contract, shared with the encoders.
export { FIELD_TYPES, type FieldType } from "../shared/contracts/faces2";

export interface DatapointSpec {
	id: number;
	label: string;
	offset: number;
	type: FieldType;
	scale: number;
	add: number;
}

export interface SensorSpec {
	sensor: number;
	frameLength: number;
	datapoints: DatapointSpec[];
}

/** What the decoder needs to know about one controller (from PostgreSQL, cached). */
export interface ControllerSpec {
	deviceId: number;
	mac: string;
	sensors: Record<string, SensorSpec>;
}

export interface ParsedTopic {
	kind: "stat" | "tele";
	mac: string;
	commonName: string;
	mode: string;
	sensor: number;
}

/**
 * Parsed topics, by topic: a controller publishes on the same few topics all day, so the regex,
 * the MAC formatting and the object are done once per topic, not once per message. Bounded
 * (cleared when full); the entries are frozen because every caller shares them.
 */
const TOPIC_CACHE_MAX = 20_000;
const topicCache = new Map<string, ParsedTopic>();

export function parseTopic(topic: string): ParsedTopic {
	const cached = topicCache.get(topic);
	if (cached) return cached;
	const parsed = Object.freeze(parseTopicUncached(topic));
	if (topicCache.size >= TOPIC_CACHE_MAX) topicCache.clear();
	topicCache.set(topic, parsed);
	return parsed;
}

function parseTopicUncached(topic: string): ParsedTopic {
	const m = FACES2_TOPIC.exec(topic);
	if (!m)
		throw new DecodeError(
			"BAD_TOPIC",
			`topic '${topic.slice(0, 200)}' is not stat|tele/f2-<mac>/sensor-mode/<mode>/sensor-<n>`
		);
	const hex = m[2].toLowerCase();
	return {
		kind: m[1] as "stat" | "tele",
		mac: hex.match(/../g)!.join(":"),
		commonName: `f2-${hex}`,
		mode: m[3],
		sensor: Number(m[4])
	};
}

/** Earliest accepted reading time: older frames are a device with a reset clock. */
export const MIN_TIMESTAMP_MS = Date.UTC(2000, 0, 1);
/** Readings may be this far in the future (clock skew), no more. */
export const MAX_FUTURE_MS = 5 * 60 * 1000;

/** Epoch seconds (< 1e11), epoch milliseconds, or an ISO 8601 string → epoch ms. */
export function parseTimestamp(value: unknown, now = Date.now()): number {
	let ms: number;
	if (typeof value === "number" && Number.isFinite(value)) {
		ms = Math.abs(value) < 1e11 ? value * 1000 : value;
	} else if (typeof value === "string" && value.trim() !== "") {
		ms = /^\d+(\.\d+)?$/.test(value.trim()) ? parseTimestamp(Number(value), now) : Date.parse(value);
		if (Number.isNaN(ms))
			throw new DecodeError(
				"BAD_TIMESTAMP",
				`timestamp '${value.slice(0, 64)}' is neither epoch seconds/ms nor ISO 8601`
			);
	} else {
		throw new DecodeError(
			"BAD_TIMESTAMP",
			`timestamp must be a number or an ISO 8601 string (got ${value === undefined ? "nothing" : typeof value})`
		);
	}
	if (ms < MIN_TIMESTAMP_MS || ms > now + MAX_FUTURE_MS) {
		throw new DecodeError(
			"TIMESTAMP_OUT_OF_RANGE",
			`timestamp ${new Date(ms).toISOString?.() ?? ms} is outside 2000-01-01 … now + 5 min`
		);
	}
	return Math.round(ms);
}

export interface Frame {
	ts: number;
	bytes: Buffer;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

const FAST_PREFIX = Buffer.from('{"timestamp":');
const FAST_MIDDLE = Buffer.from(',"data":"');
/** Digits of an epoch-ms timestamp the fast path takes (below 2^53, so every digit string is exact). */
const FAST_MAX_DIGITS = 15;

/** A hex digit's value, or -1. */
function hexValue(c: number): number {
	if (c >= 0x30 && c <= 0x39) return c - 0x30;
	const l = c | 0x20;
	return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/**
 * The payload exactly as the controllers (and encodePayload) write it, `{"timestamp":<digits>,
 * "data":"<hex>"}` without spaces, read straight from the bytes: no string, no JSON object, no
 * hex string per message. Null for anything else (spaces, other keys or order, a string or
 * fractional timestamp, a 0x prefix, bad hex), which JSON.parse then reads or refuses with the
 * reason: what passes here is valid JSON that JSON.parse would read to the same timestamp and data.
 */
function parseCompactPayload(b: Buffer): { timestamp: number; bytes: Buffer } | null {
	const n = b.length;
	let o = FAST_PREFIX.length;
	if (n < o + 1 + FAST_MIDDLE.length + 2 || b.compare(FAST_PREFIX, 0, o, 0, o) !== 0) return null;
	const start = o;
	let timestamp = 0;
	while (o < n && b[o] >= 0x30 && b[o] <= 0x39) timestamp = timestamp * 10 + (b[o++] - 0x30);
	const digits = o - start;
	// JSON has no leading zeros: "0123" goes to JSON.parse, which refuses it.
	if (digits === 0 || digits > FAST_MAX_DIGITS || (digits > 1 && b[start] === 0x30)) return null;
	if (o + FAST_MIDDLE.length > n || b.compare(FAST_MIDDLE, 0, FAST_MIDDLE.length, o, o + FAST_MIDDLE.length) !== 0)
		return null;
	o += FAST_MIDDLE.length;
	const hexLength = n - 2 - o;
	if (hexLength < 0 || hexLength % 2 !== 0 || b[n - 2] !== 0x22 || b[n - 1] !== 0x7d) return null;
	const bytes = Buffer.allocUnsafe(hexLength / 2);
	for (let i = 0; i < bytes.length; i++, o += 2) {
		const hi = hexValue(b[o]);
		const lo = hexValue(b[o + 1]);
		if (hi < 0 || lo < 0) return null;
		bytes[i] = (hi << 4) | lo;
	}
	return { timestamp, bytes };
}

export function parsePayload(payload: Buffer | string, now = Date.now()): Frame {
	const compact = typeof payload === "string" ? null : parseCompactPayload(payload);
	if (compact) return { ts: parseTimestamp(compact.timestamp, now), bytes: compact.bytes };
	let body: unknown;
	try {
		body = JSON.parse(typeof payload === "string" ? payload : payload.toString("utf8"));
	} catch {
		throw new DecodeError("BAD_PAYLOAD", "payload is not JSON");
	}
	if (body == null || typeof body !== "object" || Array.isArray(body))
		throw new DecodeError("BAD_PAYLOAD", "payload is not a JSON object");
	const { timestamp, data } = body as { timestamp?: unknown; data?: unknown };
	if (typeof data !== "string") throw new DecodeError("BAD_PAYLOAD", "payload has no 'data' hex string");
	const hex = data.startsWith("0x") || data.startsWith("0X") ? data.slice(2) : data;
	if (!HEX.test(hex))
		throw new DecodeError("BAD_HEX", `data is not an even-length hex string ('${data.slice(0, 40)}')`);
	return { ts: parseTimestamp(timestamp, now), bytes: Buffer.from(hex, "hex") };
}

/** 10^n by the scale 10^-n (n = 0 … 9): the decimal scales `scaled` divides by instead of rounding. */
const DECIMAL_SCALES = new Map(Array.from({ length: 10 }, (_, n) => [1 / 10 ** n, 10 ** n]));

/**
 * raw * scale + add, rounded to 12 significant digits to drop the binary noise of the scale
 * (0.01 * 2150 = 21.500000000000004). For an integer raw value, a decimal scale and an add of
 * at most as many decimals, the exact result (raw + add * 10^n) / 10^n has at most 12 digits
 * when |raw + add * 10^n| < 10^12, and the division rounds it to the nearest double, which is
 * what parsing its 12-digit string gives: the same value without toPrecision's string and its
 * parsing per datapoint, the decoder's largest cost. Anything else takes the string way
 * (test/unit/pipeline-decode.test.ts compares both over every integer type).
 */
export function scaled(raw: number, scale: number, add: number): number {
	const p = Number.isInteger(raw) ? DECIMAL_SCALES.get(scale) : undefined;
	if (p !== undefined) {
		const k = Math.round(add * p);
		const sum = raw + k;
		// Not where raw and add nearly cancel: there the binary noise of raw * scale + add is
		// not below the 12th digit of the result, and the string way keeps it.
		if (k / p === add && Math.abs(sum) < 1e12 && Math.abs(sum) * 64 >= Math.abs(raw) + Math.abs(k)) return sum / p;
	}
	return Number((raw * scale + add).toPrecision(12));
}

/** One frame of one sensor → readings (value = raw * scale + add). */
export function decodeFrame(spec: ControllerSpec, sensorNo: number, frame: Frame): Reading[] {
	const sensor = spec.sensors[String(sensorNo)];
	if (!sensor)
		throw new DecodeError(
			"UNKNOWN_SENSOR",
			`controller ${spec.mac} has no sensor ${sensorNo} in its metadata ` +
				`(register it: PUT /api/devices/${spec.deviceId}/sensors)`
		);
	if (frame.bytes.length !== sensor.frameLength) {
		throw new DecodeError(
			"WRONG_LENGTH",
			`sensor ${sensorNo} of ${spec.mac} sends ${sensor.frameLength} bytes, got ${frame.bytes.length}`
		);
	}
	const out: Reading[] = [];
	for (const dp of sensor.datapoints) {
		const t = FIELD_TYPES[dp.type];
		if (!t || dp.offset < 0 || dp.offset + t.size > frame.bytes.length) {
			throw new DecodeError(
				"BAD_METADATA",
				`datapoint ${dp.label} of ${spec.mac}: ${dp.type} at offset ${dp.offset} does not fit a ` +
					`${frame.bytes.length}-byte frame`
			);
		}
		const value = scaled(t.read(frame.bytes, dp.offset), dp.scale, dp.add);
		out.push({ deviceId: spec.deviceId, datapointId: dp.id, value, ts: frame.ts });
	}
	return out;
}

/** Metadata rows (SQL) → ControllerSpec; a datapoint without MQTT decoding is left out. */
export function buildControllerSpec(
	device: { id: number; mac: string },
	sensors: { sensor: number; frame_length: number }[],
	datapoints: { id: number; label: string; decoding: Record<string, unknown> | null }[]
): ControllerSpec {
	const spec: ControllerSpec = { deviceId: device.id, mac: device.mac, sensors: {} };
	for (const s of sensors)
		spec.sensors[String(s.sensor)] = { sensor: s.sensor, frameLength: s.frame_length, datapoints: [] };
	for (const dp of datapoints) {
		const d = dp.decoding ?? {};
		if (d.sensor == null) continue;
		const sensor = spec.sensors[String(d.sensor)];
		if (!sensor) continue;
		sensor.datapoints.push({
			id: dp.id,
			label: dp.label,
			offset: Number(d.offset ?? 0),
			type: String(d.type ?? "") as FieldType,
			scale: d.scale == null ? 1 : Number(d.scale),
			add: d.add == null ? 0 : Number(d.add)
		});
	}
	return spec;
}
