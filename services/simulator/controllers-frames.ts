/**
 * Frames of the simulated FACES2 controllers: the layout seeded in sql/310_pipeline_metadata.sql
 * and an encoder (the inverse of the pipeline's metadata-driven decoder, docs/pipeline.md).
 * The simulator keeps its own copy: services never import each other's folders.
 */

export type FrameFieldType = "int16be" | "uint16be" | "int32be" | "uint32be" | "float32be";

export interface FrameField {
	label: string;
	offset: number;
	type: FrameFieldType;
	scale: number;
}

export interface FrameLayout {
	frameLength: number;
	fields: FrameField[];
}

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

/** Values (in engineering units) → hex frame. */
export function encodeFrame(layout: FrameLayout, values: Record<string, number>): string {
	const buf = Buffer.alloc(layout.frameLength);
	for (const f of layout.fields) {
		const v = values[f.label];
		if (v == null) continue;
		const raw = v / f.scale;
		switch (f.type) {
			case "int16be": buf.writeInt16BE(clamp(Math.round(raw), -0x8000, 0x7fff), f.offset); break;
			case "uint16be": buf.writeUInt16BE(clamp(Math.round(raw), 0, 0xffff), f.offset); break;
			case "int32be": buf.writeInt32BE(clamp(Math.round(raw), -0x80000000, 0x7fffffff), f.offset); break;
			case "uint32be": buf.writeUInt32BE(clamp(Math.round(raw), 0, 0xffffffff), f.offset); break;
			case "float32be": buf.writeFloatBE(raw, f.offset); break;
		}
	}
	return buf.toString("hex");
}

function clamp(v: number, lo: number, hi: number): number {
	return Math.min(hi, Math.max(lo, v));
}

/** "aa:bb:cc:dd:ee:01" → "f2-aabbccddee01" (the certificate CN and the topic segment). */
export function controllerId(mac: string): string {
	return `f2-${mac.toLowerCase().replace(/[:-]/g, "")}`;
}

export function controllerTopic(mac: string, sensor: number, mode = "normal"): string {
	return `stat/${controllerId(mac)}/sensor-mode/${mode}/sensor-${sensor}`;
}

/** Plausible, slowly drifting values for controller `index` at time `t` (ms). */
export function simulatedValues(index: number, t: number, energyWh: number): Record<number, Record<string, number>> {
	const phase = t / 60_000 + index;
	const voltage = 230 + 3 * Math.sin(phase * 1.3);
	const current = 2 + 1.5 * Math.sin(phase * 0.7) + index * 0.1;
	return {
		1: {
			temperature: 21 + 4 * Math.sin(phase) + index * 0.5,
			humidity: 45 + 10 * Math.cos(phase * 0.5),
			pressure: 1013 + 5 * Math.sin(phase * 0.2)
		},
		2: { voltage, current, power: voltage * current, energy: energyWh }
	};
}
