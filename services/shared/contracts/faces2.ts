/**
 * The FACES2 field-controller protocol over MQTT, both ends: the pipeline decodes it
 * (services/pipeline/decode.ts, driven by the metadata in PostgreSQL), the simulator and the
 * benchmarks encode it.
 *
 *   topic    stat/f2-<mac>/sensor-mode/<mode>/sensor-<n>   (or tele/… of the same shape)
 *   payload  { "timestamp": <epoch s | epoch ms | ISO 8601>, "data": "<hex frame>" }
 *
 * A frame is fixed-length binary; each datapoint is a typed field at an offset, and its value
 * is raw * scale + add.
 */

/** Every field type a frame may hold: its size in bytes, and how it is read and written. */
export const FIELD_TYPES = {
	int8: {
		size: 1,
		read: (b: Buffer, o: number) => b.readInt8(o),
		write: (b: Buffer, o: number, v: number) => b.writeInt8(clampInt(v, -0x80, 0x7f), o)
	},
	uint8: {
		size: 1,
		read: (b: Buffer, o: number) => b.readUInt8(o),
		write: (b: Buffer, o: number, v: number) => b.writeUInt8(clampInt(v, 0, 0xff), o)
	},
	int16be: {
		size: 2,
		read: (b: Buffer, o: number) => b.readInt16BE(o),
		write: (b: Buffer, o: number, v: number) => b.writeInt16BE(clampInt(v, -0x8000, 0x7fff), o)
	},
	int16le: {
		size: 2,
		read: (b: Buffer, o: number) => b.readInt16LE(o),
		write: (b: Buffer, o: number, v: number) => b.writeInt16LE(clampInt(v, -0x8000, 0x7fff), o)
	},
	uint16be: {
		size: 2,
		read: (b: Buffer, o: number) => b.readUInt16BE(o),
		write: (b: Buffer, o: number, v: number) => b.writeUInt16BE(clampInt(v, 0, 0xffff), o)
	},
	uint16le: {
		size: 2,
		read: (b: Buffer, o: number) => b.readUInt16LE(o),
		write: (b: Buffer, o: number, v: number) => b.writeUInt16LE(clampInt(v, 0, 0xffff), o)
	},
	int32be: {
		size: 4,
		read: (b: Buffer, o: number) => b.readInt32BE(o),
		write: (b: Buffer, o: number, v: number) => b.writeInt32BE(clampInt(v, -0x80000000, 0x7fffffff), o)
	},
	int32le: {
		size: 4,
		read: (b: Buffer, o: number) => b.readInt32LE(o),
		write: (b: Buffer, o: number, v: number) => b.writeInt32LE(clampInt(v, -0x80000000, 0x7fffffff), o)
	},
	uint32be: {
		size: 4,
		read: (b: Buffer, o: number) => b.readUInt32BE(o),
		write: (b: Buffer, o: number, v: number) => b.writeUInt32BE(clampInt(v, 0, 0xffffffff), o)
	},
	uint32le: {
		size: 4,
		read: (b: Buffer, o: number) => b.readUInt32LE(o),
		write: (b: Buffer, o: number, v: number) => b.writeUInt32LE(clampInt(v, 0, 0xffffffff), o)
	},
	float32be: {
		size: 4,
		read: (b: Buffer, o: number) => b.readFloatBE(o),
		write: (b: Buffer, o: number, v: number) => b.writeFloatBE(v, o)
	},
	float32le: {
		size: 4,
		read: (b: Buffer, o: number) => b.readFloatLE(o),
		write: (b: Buffer, o: number, v: number) => b.writeFloatLE(v, o)
	},
	float64be: {
		size: 8,
		read: (b: Buffer, o: number) => b.readDoubleBE(o),
		write: (b: Buffer, o: number, v: number) => b.writeDoubleBE(v, o)
	},
	float64le: {
		size: 8,
		read: (b: Buffer, o: number) => b.readDoubleLE(o),
		write: (b: Buffer, o: number, v: number) => b.writeDoubleLE(v, o)
	}
} as const;

export type FieldType = keyof typeof FIELD_TYPES;

/** Integers are rounded and saturate at the type's range, as a sensor's ADC does. */
function clampInt(v: number, lo: number, hi: number): number {
	return Math.min(hi, Math.max(lo, Math.round(v)));
}

/** stat|tele / f2-<12 hex digits> / sensor-mode / <mode> / sensor-<n> */
export const FACES2_TOPIC = /^(stat|tele)\/f2-([0-9a-fA-F]{12})\/sensor-mode\/([^/]+)\/sensor-(\d{1,4})$/;

/** "aa:bb:cc:dd:ee:01" → "f2-aabbccddee01" (the certificate CN and the topic segment). */
export function controllerId(mac: string): string {
	return `f2-${mac.toLowerCase().replace(/[:-]/g, "")}`;
}

export function controllerTopic(mac: string, sensor: number, mode = "normal"): string {
	return `stat/${controllerId(mac)}/sensor-mode/${mode}/sensor-${sensor}`;
}

/** The JSON body of one message. */
export interface Faces2Payload {
	timestamp: number | string;
	/** The frame as hex (an optional 0x prefix is accepted). */
	data: string;
}

export interface FrameField {
	label: string;
	offset: number;
	type: FieldType;
	scale: number;
}

export interface FrameLayout {
	frameLength: number;
	fields: FrameField[];
}

/** The layout of the controllers seeded in sql/310_pipeline_metadata.sql, by sensor number. */
export const FACES2_LAYOUT: Record<number, FrameLayout> = {
	1: {
		frameLength: 8,
		fields: [
			{ label: "temperature", offset: 0, type: "int16be", scale: 0.01 },
			{ label: "humidity", offset: 2, type: "uint16be", scale: 0.01 },
			{ label: "pressure", offset: 4, type: "uint32be", scale: 0.01 }
		]
	},
	2: {
		frameLength: 12,
		fields: [
			{ label: "voltage", offset: 0, type: "uint16be", scale: 0.1 },
			{ label: "current", offset: 2, type: "int16be", scale: 0.001 },
			{ label: "power", offset: 4, type: "float32be", scale: 1 },
			{ label: "energy", offset: 8, type: "uint32be", scale: 1 }
		]
	}
};

/** Values (in engineering units) → hex frame: the inverse of the pipeline's decoder. */
export function encodeFrame(layout: FrameLayout, values: Record<string, number>): string {
	const buf = Buffer.alloc(layout.frameLength);
	for (const f of layout.fields) {
		const v = values[f.label];
		if (v != null) FIELD_TYPES[f.type].write(buf, f.offset, v / f.scale);
	}
	return buf.toString("hex");
}

/** One message body: the frame of `values` at `timestamp`. */
export function encodePayload(layout: FrameLayout, values: Record<string, number>, timestamp: number | string): string {
	const body: Faces2Payload = { timestamp, data: encodeFrame(layout, values) };
	return JSON.stringify(body);
}
