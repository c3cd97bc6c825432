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

export function parsePayload(payload: Buffer | string, now = Date.now()): Frame {
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
		const raw = t.read(frame.bytes, dp.offset);
		// Round away binary noise of the scale (0.01 * 2150 = 21.500000000000004).
		const value = Number((raw * dp.scale + dp.add).toPrecision(12));
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
