/**
 * The alert engine: what a batch of readings means, as a list of effects, without doing any
 * of them. The monitoring service's channel handler applies the effects in order (database,
 * events, live push, MongoDB); unit tests check the decisions directly.
 *
 * The state it reads is the service's: the threshold rules per datapoint, each rule's state per
 * device, the datapoints' metadata and the devices with an open offline alert.
 */
import type { LiveReading, Reading } from "../shared/contracts";
import { describeThreshold, evaluate, initialState, type RuleState, type ThresholdRule } from "./alerts";
import type { SinkReading } from "./mongo-sink";
import type { DatapointMeta } from "./store";

export interface EngineState {
	rules: Map<number, ThresholdRule[]>;
	/** `${ruleId}:${deviceId}` → the rule's state for that device (updated by ingest). */
	ruleStates: Map<string, RuleState>;
	meta: Map<number, DatapointMeta>;
	offlineOpen: Set<number>;
}

export interface NewAlert {
	kind: "threshold" | "offline";
	ruleId: number | null;
	deviceId: number;
	datapointId: number | null;
	severity: string;
	message: string;
	value: number | null;
	at: Date;
}

export type AlertEffect =
	/** A point for the device's live room. */
	| { type: "live"; deviceId: number; reading: LiveReading }
	/** Open an alert (a no-op when the same one is open). */
	| { type: "raise"; alert: NewAlert }
	/** Clear the open alert of a rule, or the offline alert, of a device. */
	| { type: "clear"; kind: "threshold" | "offline"; ruleId: number | null; deviceId: number; at: Date }
	/** The devices reported: their last-seen time is now. */
	| { type: "touch"; deviceIds: number[] }
	/** Copies for the document store. */
	| { type: "store"; readings: SinkReading[] };

/** Epoch ms of a reading that passed `isReading`. */
function toMs(ts: string | number): number {
	return typeof ts === "number" ? ts : Date.parse(ts);
}

function byTime(a: Reading, b: Reading): number {
	return toMs(a.ts) - toMs(b.ts);
}

function inTimeOrder(readings: Reading[]): boolean {
	for (let i = 1; i < readings.length; i++) if (byTime(readings[i - 1], readings[i]) > 0) return false;
	return true;
}

export class AlertEngine {
	constructor(private readonly state: EngineState) {}

	/**
	 * The effects of valid readings (in time order when there are rules), in the order to apply them: per
	 * reading its live point and the rules' decisions, then the devices' last-seen time, then
	 * the offline alerts those devices end, then the document copies (unless `copies` is false:
	 * there is no document store to take them).
	 */
	ingest(readings: Reading[], { copies = true }: { copies?: boolean } = {}): AlertEffect[] {
		const { meta, rules } = this.state;
		// Only the rules' decisions depend on the readings' order (live points are ordered by the
		// throttle, copies carry their time). Sorting every batch of thousands was the engine's
		// largest cost: a batch is sorted only when there are rules and it is not in time order.
		const sorted = rules.size === 0 || inTimeOrder(readings) ? readings : [...readings].sort(byTime);
		const effects: AlertEffect[] = [];
		const devices = new Set<number>();
		// Made with the live point, not by a second pass of lookups and object spreads per reading.
		const stored: SinkReading[] = [];
		for (const r of sorted) {
			const at = toMs(r.ts);
			const m = meta.get(r.datapointId);
			devices.add(r.deviceId);
			const point = pointOf(r, m, at);
			effects.push({ type: "live", deviceId: r.deviceId, reading: point });
			if (copies)
				stored.push({
					deviceId: r.deviceId,
					datapointId: point.datapointId,
					label: point.label,
					unit: point.unit,
					value: point.value,
					ts: point.ts
				});
			// A datapoint id that belongs to another device is a mapping error upstream: no alerts on it.
			if (m && m.deviceId === r.deviceId) this.evaluateRules(r, m, at, effects);
		}
		effects.push({ type: "touch", deviceIds: [...devices] });
		for (const d of devices) {
			if (this.state.offlineOpen.has(d))
				effects.push({ type: "clear", kind: "offline", ruleId: null, deviceId: d, at: new Date() });
		}
		if (copies) effects.push({ type: "store", readings: stored });
		return effects;
	}

	/** The decisions of the datapoint's threshold rules on one reading (each rule's state per device). */
	private evaluateRules(r: Reading, m: DatapointMeta, at: number, effects: AlertEffect[]): void {
		const { rules, ruleStates } = this.state;
		for (const rule of rules.get(r.datapointId) ?? []) {
			const key = `${rule.id}:${r.deviceId}`;
			let state = ruleStates.get(key);
			if (!state) ruleStates.set(key, (state = initialState()));
			const d = evaluate(rule, state, r.value, at);
			if (!d) continue;
			if (d.action === "raise") {
				effects.push({
					type: "raise",
					alert: {
						kind: "threshold",
						ruleId: rule.id,
						deviceId: r.deviceId,
						datapointId: r.datapointId,
						severity: rule.severity,
						message: `${m.device}: ${describeThreshold(rule, m.label, m.unit, d.value)}`,
						value: d.value,
						at: new Date(d.at)
					}
				});
			} else {
				effects.push({
					type: "clear",
					kind: "threshold",
					ruleId: rule.id,
					deviceId: r.deviceId,
					at: new Date(d.at)
				});
			}
		}
	}
}

/** A reading as shown live and stored: labelled by its datapoint (`#id` when the datapoint is unknown). */
function pointOf(r: Reading, m: DatapointMeta | undefined, ts: number) {
	return {
		datapointId: r.datapointId,
		label: m?.label ?? `#${r.datapointId}`,
		unit: m?.unit ?? null,
		value: r.value,
		ts
	};
}
