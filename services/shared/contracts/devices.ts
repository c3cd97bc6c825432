/**
 * The device chain: detector → manager → processor. Hotplug events, the status a device is in,
 * and what the manager asks the processor to open (`processor.open`), write and close.
 *
 * The value lists are the source: each type is derived from its list, and validators use the
 * same list (`[...DEVICE_STATUSES]`), so adding a value is one edit.
 */
import { Closed, Type, type Static } from "./schema";

export const DEVICE_EVENTS = {
	deviceAttached: "device.attached",
	deviceDetached: "device.detached",
	deviceConfigured: "device.configured",
	deviceStatus: "device.status"
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

/** device.attached / device.detached: the udev event as JSON plus the node that holds the device. */
export interface DeviceHotplugEvent {
	timestamp: string;
	action: "add" | "remove";
	path: string;
	subsystem: string;
	properties: UdevProperties;
	nodeID: string;
}

export const DEVICE_STATUSES = ["detected", "identified", "configured", "streaming", "disconnected", "error"] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

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
	config: DeviceLinkConfig;
	timestamp: string;
}

export interface DeviceLinkConfig {
	auto_reconnect: boolean;
	buffer_size: number;
	timeout: number;
	[key: string]: unknown;
}

/** How a device is attached, and the protocol the processor speaks with it. */
export const DEVICE_INTERFACES = ["uart", "i2c"] as const;
export type DeviceInterface = (typeof DEVICE_INTERFACES)[number];
export const DEVICE_PROTOCOLS = ["line", "nmea", "modbus", "bme280"] as const;
export type DeviceProtocol = (typeof DEVICE_PROTOCOLS)[number];
/** Line protocol: how one line of text is split into labelled values. */
export const LINE_FORMATS = ["kv", "csv", "json", "auto"] as const;
export type LineFormat = (typeof LINE_FORMATS)[number];

/**
 * The Modbus register map of a profile, as the manager loads it (defaults filled) and the
 * processor receives it in `processor.open`. One schema for both ends of the contract;
 * `withDefaults` fills optional fields when a profile file is read.
 */
export const MODBUS_REGISTER_TYPES = ["holding", "input"] as const;
export type ModbusRegisterType = (typeof MODBUS_REGISTER_TYPES)[number];
export const MODBUS_FORMATS = ["int16", "uint16", "int32", "uint32", "float32"] as const;
export type ModbusFormat = (typeof MODBUS_FORMATS)[number];

export interface ModbusRegister {
	label: string;
	address: number;
	type: ModbusRegisterType;
	format: ModbusFormat;
	scale?: number;
}

export interface ModbusMap {
	unit_id: number;
	poll_ms: number;
	registers: ModbusRegister[];
}

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

/** `processor.open` params: device.configured plus the datapoint ids and protocol details. */
export interface DeviceOpenRequest {
	deviceId: number;
	/** Path to open (the stable /dev/serial/by-id link where one exists). */
	device: string;
	/** The kernel name (/dev/ttyUSB0) tried when `device` does not exist on the node. */
	fallbackDevice?: string;
	profile: {
		name: string;
		interface: DeviceInterface;
		protocol: DeviceProtocol;
		baudrate?: number;
		format?: LineFormat;
		modbus?: ModbusMap;
		i2c?: { address: number; poll_ms?: number };
	};
	config: DeviceLinkConfig;
	/** label → datapoint id in the registry (readings carry the id); `key` when the device prints another name. */
	datapoints: Array<{ label: string; id: number; key?: string }>;
}

/** What an open device takes (automation's commands): a line, or a register and its value. */
export const DeviceWrite = Closed({
	line: Type.Optional(Type.String()),
	register: Type.Optional(Type.Integer()),
	value: Type.Optional(Type.Number())
});
export type DeviceWrite = Static<typeof DeviceWrite>;

/** `processor.write` params. */
export interface DeviceWriteRequest extends DeviceWrite {
	deviceId: number;
}

/** `processor.close` params. */
export interface DeviceCloseRequest {
	deviceId: number;
}

/**
 * `device.status` reasons for a device whose node is gone. NODE_STOPPED is a planned stop:
 * monitoring raises no offline alert for it. NODE_LOST (the node went silent) is not planned.
 */
export const NODE_STOPPED = "node stopped";
export const NODE_LOST = "node left the mesh";
