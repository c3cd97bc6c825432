/**
 * Values for the simulated FACES2 controllers. The frame format itself (layout, encoder, topics)
 * is the shared contract in services/shared/contracts/faces2.ts, re-exported here.
 */
export {
	controllerId,
	controllerTopic,
	encodeFrame,
	encodePayload,
	FACES2_LAYOUT,
	type FrameField,
	type FrameLayout
} from "../shared/contracts/faces2";

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
