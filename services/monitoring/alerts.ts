/**
 * Alert logic as plain functions: threshold rules with hysteresis and a minimum duration, and
 * offline detection. The service feeds readings in time order and applies the decisions to the
 * database, where a unique index keeps one open alert per rule and device.
 */
import { SEVERITIES, type Severity } from "../shared/contracts/alerts";

export type Direction = "above" | "below";
export type { Severity } from "../shared/contracts/alerts";

export interface ThresholdRule {
	id: number;
	datapointId: number;
	direction: Direction;
	threshold: number;
	/** How far back across the threshold the value must go before the alert clears. */
	hysteresis: number;
	/** How long the threshold must stay crossed before the alert is raised (ms). */
	minDurationMs: number;
	severity: Severity;
	enabled: boolean;
}

/** What the engine remembers per rule and device between readings. */
export interface RuleState {
	/** Time of the first reading of the current crossing (ms), null when not crossed. */
	pendingSince: number | null;
	open: boolean;
}

export type Decision =
	| { action: "raise"; value: number; at: number; since: number }
	| { action: "clear"; value: number; at: number }
	| null;

export function initialState(open = false): RuleState {
	return { pendingSince: null, open };
}

export function isCrossed(rule: ThresholdRule, value: number): boolean {
	return rule.direction === "above" ? value > rule.threshold : value < rule.threshold;
}

/** Back on the safe side by at least the hysteresis. */
export function isRecovered(rule: ThresholdRule, value: number): boolean {
	return rule.direction === "above"
		? value <= rule.threshold - rule.hysteresis
		: value >= rule.threshold + rule.hysteresis;
}

/**
 * One reading through one rule. Mutates and returns the state; the decision says whether an
 * alert must be raised or cleared now. A non-finite value changes nothing.
 */
export function evaluate(rule: ThresholdRule, state: RuleState, value: number, at: number): Decision {
	if (!rule.enabled || !Number.isFinite(value)) return null;
	if (state.open) {
		if (isRecovered(rule, value)) {
			state.open = false;
			state.pendingSince = null;
			return { action: "clear", value, at };
		}
		return null;
	}
	if (!isCrossed(rule, value)) {
		state.pendingSince = null;
		return null;
	}
	if (state.pendingSince == null || at < state.pendingSince) state.pendingSince = at;
	if (at - state.pendingSince >= rule.minDurationMs) {
		const since = state.pendingSince;
		state.open = true;
		state.pendingSince = null;
		return { action: "raise", value, at, since };
	}
	return null;
}

export function describeThreshold(rule: ThresholdRule, label: string, unit: string | null, value: number): string {
	const u = unit ? ` ${unit}` : "";
	const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Number(n.toPrecision(4)).toString());
	return `${label} ${fmt(value)}${u} is ${rule.direction} ${fmt(rule.threshold)}${u}`;
}

/**
 * A device is offline when it has been silent for longer than its expected interval (times an optional grace factor).
 */
export function isOffline(lastSeenMs: number, expectedIntervalMs: number, now: number, grace = 1): boolean {
	return now - lastSeenMs > expectedIntervalMs * grace;
}

export function describeOffline(deviceName: string, lastSeenMs: number, now: number): string {
	const s = Math.round((now - lastSeenMs) / 1000);
	const ago = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
	return `${deviceName} has not reported for ${ago}`;
}

/** Alert defaults a device profile may give a datapoint (profiles/*.yaml, see docs/monitoring.md). */
export interface ProfileAlertDefault {
	direction: Direction;
	threshold: number;
	hysteresis: number;
	minDurationS: number;
	severity: Severity;
}

const SEVERITY_SET = new Set<string>(SEVERITIES);

/**
 * Reads the alert defaults of one datapoint entry of a profile. Accepted forms:
 *   alert: { above: 30, below: 5, hysteresis: 0.5, for: 10, severity: warning }
 *   alerts: [ { above: 30, ... }, { below: 5, ... } ]
 * `for` (seconds) is the minimum duration. Anything malformed is ignored and reported.
 */
export function profileAlertDefaults(datapoint: unknown): { defaults: ProfileAlertDefault[]; problems: string[] } {
	const defaults: ProfileAlertDefault[] = [];
	const problems: string[] = [];
	if (!datapoint || typeof datapoint !== "object") return { defaults, problems };
	const dp = datapoint as Record<string, unknown>;
	const specs = ([] as unknown[]).concat(dp.alert ?? [], dp.alerts ?? []);
	for (const spec of specs) {
		if (!spec || typeof spec !== "object") {
			problems.push("alert entry is not a mapping");
			continue;
		}
		const s = spec as Record<string, unknown>;
		const hysteresis = s.hysteresis == null ? 0 : Number(s.hysteresis);
		const minDurationS = s.for == null ? (s.min_duration_s == null ? 0 : Number(s.min_duration_s)) : Number(s.for);
		const severity = String(s.severity ?? "warning");
		if (
			!Number.isFinite(hysteresis) ||
			hysteresis < 0 ||
			!Number.isFinite(minDurationS) ||
			minDurationS < 0 ||
			!SEVERITY_SET.has(severity)
		) {
			problems.push(`alert entry ${JSON.stringify(s)} has a bad hysteresis, duration or severity`);
			continue;
		}
		for (const direction of ["above", "below"] as const) {
			if (s[direction] == null) continue;
			const threshold = Number(s[direction]);
			if (!Number.isFinite(threshold)) {
				problems.push(`alert '${direction}' ${JSON.stringify(s[direction])} is not a number`);
				continue;
			}
			defaults.push({ direction, threshold, hysteresis, minDurationS, severity: severity as Severity });
		}
	}
	return { defaults, problems };
}
