/**
 * Schedule planning, pure: the occurrences of a cron (croner, with its time zone and DST rules)
 * or an interval (anchored, no drift), and what is due at a moment given the stored next run
 * and the misfire policy. The service claims what this returns with a compare-and-set.
 */
import { Cron } from "croner";
import type { MisfirePolicy } from "../shared/contracts/automation";

/** Occurrences more than this late count as missed while no instance ran. */
export const MISFIRE_AFTER_MS = 60_000;
/** At most this many on-time occurrences of one schedule per sweep (the rest come next sweep). */
const MAX_RUNS_PER_SWEEP = 100;

export interface ScheduleSpec {
	cron: string | null;
	intervalMs: number | null;
	timezone: string;
	startAt: number | null;
	endAt: number | null;
	/** Interval anchor: startAt ?? createdAt. */
	anchor: number;
}

const crons = new Map<string, Cron>();

function cronFor(spec: ScheduleSpec): Cron {
	const key = `${spec.cron}|${spec.timezone}|${spec.startAt}|${spec.endAt}`;
	let c = crons.get(key);
	if (!c) {
		if (crons.size > 5000) crons.clear();
		c = new Cron(spec.cron!, {
			timezone: spec.timezone,
			paused: true,
			...(spec.startAt != null ? { startAt: new Date(spec.startAt) } : {}),
			...(spec.endAt != null ? { stopAt: new Date(spec.endAt) } : {})
		});
		crons.set(key, c);
	}
	return c;
}

/** Throws croner's message when the pattern is not a 5- or 6-field cron. */
export function checkCron(pattern: string, timezone = "UTC"): void {
	const fields = pattern.trim().split(/\s+/).length;
	if (fields !== 5 && fields !== 6) throw new Error(`a cron has 5 fields (or 6 with seconds first), not ${fields}`);
	const c = new Cron(pattern, { timezone, paused: true });
	c.nextRun();
}

/** The first occurrence strictly after `after` (ms), or null when there is none (past endAt). */
export function nextAfter(spec: ScheduleSpec, after: number): number | null {
	if (spec.cron) {
		const d = cronFor(spec).nextRun(new Date(after));
		return d ? d.getTime() : null;
	}
	const iv = spec.intervalMs!;
	const next = after < spec.anchor ? spec.anchor : spec.anchor + (Math.floor((after - spec.anchor) / iv) + 1) * iv;
	return spec.endAt != null && next >= spec.endAt ? null : next;
}

export function preview(spec: ScheduleSpec, from: number, count: number): number[] {
	const out: number[] = [];
	let t = from;
	while (out.length < count) {
		const n = nextAfter(spec, t);
		if (n == null) break;
		out.push(n);
		t = n;
	}
	return out;
}

export interface DuePlan {
	/** Runs to start, in order. */
	runs: Array<{ scheduledFor: number; misfired: boolean }>;
	/** misfire `skip`: the latest missed occurrence, recorded as one `missed` entry. */
	missed: number | null;
	/** The new stored next run (null: the schedule has no more occurrences). */
	next: number | null;
}

/**
 * What is due at `now` for a schedule whose stored next run is `nextRunAt`: occurrences at most
 * a minute late run each; older ones (no instance ran) collapse into one catch-up run
 * (`run_once`, misfired) or one `missed` entry (`skip`).
 */
export function planDue(spec: ScheduleSpec, nextRunAt: number, now: number, misfire: MisfirePolicy): DuePlan {
	const plan: DuePlan = { runs: [], missed: null, next: nextRunAt };
	if (nextRunAt > now) return plan;
	const lateCut = now - MISFIRE_AFTER_MS;
	let occ: number | null = nextRunAt;
	let lastLate: number | null = null;
	if (spec.intervalMs && occ < lateCut) {
		// Jump over a long downtime without walking every occurrence.
		lastLate = spec.anchor + Math.floor((lateCut - 1 - spec.anchor) / spec.intervalMs) * spec.intervalMs;
		occ = nextAfter(spec, lastLate);
	}
	const onTime: number[] = [];
	for (let guard = 0; occ != null && occ <= now && guard < 1_000_000; guard++) {
		if (occ < lateCut) lastLate = occ;
		else {
			onTime.push(occ);
			if (onTime.length >= MAX_RUNS_PER_SWEEP) {
				occ = nextAfter(spec, occ);
				break;
			}
		}
		occ = nextAfter(spec, occ);
	}
	if (lastLate != null) {
		if (misfire === "run_once") plan.runs.push({ scheduledFor: lastLate, misfired: true });
		else plan.missed = lastLate;
	}
	for (const t of onTime) plan.runs.push({ scheduledFor: t, misfired: false });
	plan.next = occ;
	return plan;
}
