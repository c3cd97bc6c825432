/**
 * The rule engine, pure: what a reading, a device status or a due timer does to the edge state
 * of one (rule, device), and whether a rule's conditions hold. No I/O: the service loads the
 * state, calls these, and writes the result back with a compare-and-set; the simulation calls
 * the same functions over stored readings.
 */
import type { Condition, Trigger, Weekday } from "../shared/contracts/automation";
import { WEEKDAYS, parseDuration } from "../shared/contracts/automation";

/** The edge memory of one (rule, trigger device); times in epoch ms. */
export interface EdgeState {
	armed: boolean;
	pendingSince: number | null;
	pendingValue: number | null;
	lastFiredAt: number | null;
	/** Newest input seen: older or equal inputs (redeliveries, reordering) are ignored. */
	lastTs: number | null;
}

export const initialEdgeState = (): EdgeState => ({
	armed: true,
	pendingSince: null,
	pendingValue: null,
	lastFiredAt: null,
	lastTs: null
});

/** What a trigger becomes once its duration is parsed: the engine's view of it. */
export interface TriggerSpec {
	forMs: number;
	/** Does this input satisfy the trigger? */
	satisfied(value: number | string): boolean;
	/** After firing: is this input far enough back (hysteresis) to re-arm? */
	rearms(value: number | string): boolean;
}

export function triggerSpec(t: Trigger): TriggerSpec {
	const forMs = parseDuration(t.for) ?? 0;
	if (t.type === "device_status") {
		return { forMs, satisfied: v => v === t.to, rearms: v => v !== t.to };
	}
	const h = t.hysteresis ?? 0;
	return {
		forMs,
		satisfied: v => typeof v === "number" && inBand(v, t.above, t.below),
		// Back past the threshold by the hysteresis: below `above − h`, above `below + h`.
		rearms: v =>
			typeof v === "number" && ((t.above != null && v <= t.above - h) || (t.below != null && v >= t.below + h))
	};
}

/** Strict comparisons; both bounds: inside the band. */
export function inBand(v: number, above: number | null, below: number | null): boolean {
	return (above == null || v > above) && (below == null || v < below);
}

export type Effect =
	| { type: "fire"; pendingSince: number; heldMs: number; value: number | string | null; ts: number }
	/** a `for` wait started: a durable timer at dueAt fires it if nothing contrary comes */
	| { type: "wait"; pendingSince: number; dueAt: number }
	/** the wait ended without firing: its timer is void */
	| { type: "cancel"; pendingSince: number };

export interface StepResult {
	state: EdgeState;
	effects: Effect[];
	/** Anything besides lastTs changed: the state must be written back. */
	changed: boolean;
}

/** One input (reading value or device status) at time ts. */
export function step(spec: TriggerSpec, state: EdgeState, value: number | string, ts: number): StepResult {
	if (state.lastTs != null && ts <= state.lastTs) return { state, effects: [], changed: false };
	let s: EdgeState = { ...state, lastTs: ts };
	const effects: Effect[] = [];
	let changed = false;
	if (s.armed && s.pendingSince != null && ts >= s.pendingSince + spec.forMs && !spec.satisfied(value)) {
		// The wait came due before this contrary input arrived (the timer's moment had passed):
		// it held for `for`, so it fires then, and this input is taken as the next one.
		const due = s.pendingSince + spec.forMs;
		fire(s, effects, due, s.pendingValue, spec.forMs);
		changed = true;
		s = { ...s };
	}
	if (!s.armed) {
		if (spec.rearms(value)) {
			s.armed = true;
			changed = true;
		}
		return { state: s, effects, changed };
	}
	if (spec.satisfied(value)) {
		if (s.pendingSince == null) {
			s.pendingSince = ts;
			s.pendingValue = typeof value === "number" ? value : null;
			changed = true;
			if (spec.forMs <= 0) return fire(s, effects, ts, value, 0);
			effects.push({ type: "wait", pendingSince: ts, dueAt: ts + spec.forMs });
		} else if (ts - s.pendingSince >= spec.forMs) {
			return fire(s, effects, ts, value, ts - s.pendingSince);
		}
	} else if (s.pendingSince != null) {
		effects.push({ type: "cancel", pendingSince: s.pendingSince });
		s.pendingSince = null;
		s.pendingValue = null;
		changed = true;
	}
	return { state: s, effects, changed };
}

/** A `for` timer came due at `now`: fires when the same wait is still pending and held long enough. */
export function stepTimer(spec: TriggerSpec, state: EdgeState, pendingSince: number, now: number): StepResult {
	if (!state.armed || state.pendingSince !== pendingSince || now < pendingSince + spec.forMs)
		return { state, effects: [], changed: false };
	const at = pendingSince + spec.forMs;
	return fire({ ...state }, [], at, state.pendingValue, spec.forMs);
}

function fire(s: EdgeState, effects: Effect[], ts: number, value: number | string | null, heldMs: number): StepResult {
	const pendingSince = s.pendingSince ?? ts;
	effects.push({ type: "fire", pendingSince, heldMs, value, ts });
	s.armed = false;
	s.pendingSince = null;
	s.pendingValue = null;
	s.lastFiredAt = ts;
	return { state: s, effects, changed: true };
}

// ---- conditions ---------------------------------------------------------------------------

export interface ConditionResult {
	ok: boolean;
	detail: Record<string, unknown>;
}

/** A reading condition against the latest known value of its datapoint. */
export function checkReadingCondition(
	c: Extract<Condition, { type: "reading" }>,
	latest: { value: number; ts: number } | null,
	now: number
): ConditionResult {
	const bounds = { ...(c.above != null ? { above: c.above } : {}), ...(c.below != null ? { below: c.below } : {}) };
	if (!latest) return { ok: false, detail: { value: null, reason: "no reading", ...bounds } };
	const maxAgeMs = c.maxAge ? parseDuration(c.maxAge) : null;
	const ageMs = now - latest.ts;
	if (maxAgeMs != null && ageMs > maxAgeMs)
		return { ok: false, detail: { value: latest.value, ageMs, reason: "too old", maxAge: c.maxAge, ...bounds } };
	return { ok: inBand(latest.value, c.above, c.below), detail: { value: latest.value, ageMs, ...bounds } };
}

const weekdayFormatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday and minutes since midnight of `now` in a time zone. */
export function localClock(now: number, timezone: string): { weekday: Weekday; minutes: number } {
	let f = weekdayFormatters.get(timezone);
	if (!f)
		weekdayFormatters.set(
			timezone,
			(f = new Intl.DateTimeFormat("en-US", {
				timeZone: timezone,
				weekday: "short",
				hour: "2-digit",
				minute: "2-digit",
				hourCycle: "h23"
			}))
		);
	const parts = Object.fromEntries(f.formatToParts(new Date(now)).map(p => [p.type, p.value]));
	return {
		weekday: parts.weekday.toLowerCase().slice(0, 3) as Weekday,
		minutes: Number(parts.hour) * 60 + Number(parts.minute)
	};
}

const hhmm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

/** A time window: after ≤ t < before (across midnight when after > before), on the given weekdays. */
export function checkTimeCondition(c: Extract<Condition, { type: "time" }>, now: number): ConditionResult {
	const { weekday, minutes } = localClock(now, c.timezone);
	const local = `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
	const detail = { local, weekday, timezone: c.timezone };
	if (c.weekdays && c.weekdays.length && !c.weekdays.includes(weekday)) return { ok: false, detail };
	const a = c.after != null ? hhmm(c.after) : null;
	const b = c.before != null ? hhmm(c.before) : null;
	let ok = true;
	if (a != null && b != null) ok = a <= b ? minutes >= a && minutes < b : minutes >= a || minutes < b;
	else if (a != null) ok = minutes >= a;
	else if (b != null) ok = minutes < b;
	return { ok, detail };
}

export const isWeekday = (s: unknown): s is Weekday =>
	typeof s === "string" && (WEEKDAYS as readonly string[]).includes(s);
