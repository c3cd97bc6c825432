/**
 * Payload contracts between services (DESIGN.md "Contracts"): event and channel names, their
 * TypeScript types, and fastest-validator schemas for the consumers to check what arrives.
 */

// ---- events (notifications; may be lost) -------------------------------------------------

export const EVENTS = {
	deviceAttached: "device.attached",
	deviceDetached: "device.detached",
	deviceConfigured: "device.configured",
	deviceStatus: "device.status",
	alertRaised: "alert.raised",
	alertCleared: "alert.cleared",
	alertAcknowledged: "alert.acknowledged"
} as const;

export interface UdevProperties {
	ID_VENDOR_ID?: string;
	ID_MODEL_ID?: string;
	ID_PRODUCT_ID?: string;
	ID_VENDOR?: string;
	ID_MODEL?: string;
	ID_SERIAL_SHORT?: string;
	ID_PATH?: string;
	DEVLINKS?: string;
	[key: string]: string | undefined;
}

/** device.attached / device.detached (seed 000's event JSON plus the node that holds the device). */
export interface DeviceHotplugEvent {
	timestamp: string;
	action: "add" | "remove";
	path: string;
	subsystem: string;
	properties: UdevProperties;
	nodeID: string;
}

export type DeviceStatus = "detected" | "identified" | "configured" | "streaming" | "disconnected" | "error";

export interface DeviceStatusEvent {
	deviceId: number;
	nodeID: string;
	status: DeviceStatus;
	reason?: string;
	at: string;
}

export interface DeviceConfiguredEvent {
	deviceId: number;
	device: string;
	nodeID: string;
	profile: { name: string; interface: string; baudrate?: number; protocol: string; [key: string]: unknown };
	config: { auto_reconnect: boolean; buffer_size: number; timeout: number; [key: string]: unknown };
	timestamp: string;
}

export interface AlertEvent {
	alertId: number;
	deviceId: number;
	datapoint: string;
	severity: string;
	message: string;
	at: string;
}

// ---- channels (durable, at-least-once, batched) -----------------------------------------

export const CHANNELS = {
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

// ---- device chain (issue 3): what the manager asks the processor to open -------------------

/** `processor.open` params: device.configured plus the datapoint ids and protocol details. */
/**
 * The Modbus register map of a profile, as the manager loads it (defaults filled) and the
 * processor receives it in `processor.open`. One schema for both ends of the contract;
 * `withDefaults` fills optional fields when a profile file is read.
 */
export const MODBUS_REGISTER_TYPES = ["holding", "input"] as const;
export const MODBUS_FORMATS = ["int16", "uint16", "int32", "uint32", "float32"] as const;

export function modbusMapSchema(withDefaults: boolean) {
	const fill = <T>(value: T) => (withDefaults ? { optional: true, default: value } : {});
	return {
		type: "object",
		optional: true,
		props: {
			unit_id: { type: "number", integer: true, min: 1, max: 247 },
			poll_ms: { type: "number", integer: true, min: 50, ...fill(1000) },
			registers: {
				type: "array",
				min: 1,
				items: {
					type: "object",
					props: {
						label: { type: "string" },
						address: { type: "number", integer: true, min: 0, max: 65535 },
						type: { type: "enum", values: [...MODBUS_REGISTER_TYPES], ...fill("holding") },
						format: { type: "enum", values: [...MODBUS_FORMATS], ...fill("uint16") },
						scale: { type: "number", optional: true }
					}
				}
			}
		}
	} as const;
}

export interface DeviceOpenRequest {
	deviceId: number;
	/** Path to open (the stable /dev/serial/by-id link where one exists). */
	device: string;
	/** The kernel name (/dev/ttyUSB0) tried when `device` does not exist on the node. */
	fallbackDevice?: string;
	profile: {
		name: string;
		interface: "uart" | "i2c";
		protocol: "line" | "nmea" | "modbus" | "bme280";
		baudrate?: number;
		format?: "kv" | "csv" | "json" | "auto";
		modbus?: { unit_id: number; poll_ms: number; registers: Array<{ label: string; address: number; type: "holding" | "input"; format: string; scale?: number }> };
		i2c?: { address: number; poll_ms?: number };
	};
	config: { auto_reconnect: boolean; buffer_size: number; timeout: number; [key: string]: unknown };
	/** label → datapoint id in the registry (readings carry the id); `key` when the device prints another name. */
	datapoints: Array<{ label: string; id: number; key?: string }>;
}

// ---- live push (monitoring → every gateway's Socket.IO rooms) ----------------------------

/**
 * Broadcast Moleculer event carrying messages for Socket.IO rooms: monitoring sends it
 * (throttled per room), the live mixin of every gateway node relays it to its own sockets.
 * Rooms: `device:<id>` (events "readings", "device.status", "alert") and `alerts` ("alert").
 */
export const LIVE_PUSH_EVENT = "live.push";

export interface LiveMessage {
	room: string;
	event: string;
	data: unknown;
}

export interface LivePushEvent {
	messages: LiveMessage[];
}
