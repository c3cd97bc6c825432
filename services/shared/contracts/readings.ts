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

export interface IotRawBatch {
	messages: RawMqttMessage[];
}

export interface Reading {
	deviceId: number;
	datapointId: number;
	value: number;
	/** ISO 8601 or epoch milliseconds */
	ts: string | number;
}

export interface TelemetryBatch {
	readings: Reading[];
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

export function isReading(r: unknown): r is Reading {
	return readingProblem(r) === null;
}

function isInt4Id(v: unknown): v is number {
	return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= INT32_MAX;
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
