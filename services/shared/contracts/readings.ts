/**
 * Readings: raw MQTT messages on `iot.raw` (ingest → decode) and decoded readings on
 * `telemetry.readings` (processor and decode → sink and monitoring). Both are durable channels.
 */

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

export const telemetryBatchSchema = {
	$$root: true,
	type: "object",
	props: {
		readings: {
			type: "array",
			items: {
				type: "object",
				props: {
					deviceId: { type: "number", integer: true, positive: true },
					datapointId: { type: "number", integer: true, positive: true },
					value: { type: "number" },
					ts: [{ type: "string" }, { type: "number" }]
				}
			}
		}
	}
} as const;

export const iotRawBatchSchema = {
	$$root: true,
	type: "object",
	props: {
		messages: {
			type: "array",
			items: {
				type: "object",
				props: {
					topic: { type: "string" },
					payload: { type: "string" },
					receivedAt: { type: "string" }
				}
			}
		}
	}
} as const;
