/**
 * Simulation: a rule replayed over stored readings (decoded_data) or device status events,
 * through the same engine as live inputs, from a fresh state. Sends nothing, stores nothing.
 */
import type { Sql } from "../../mixins/db.mixin";
import type { HistoryEntry, RuleApi, TraceStep } from "../shared/contracts/automation";
import {
	checkReadingCondition,
	checkTimeCondition,
	initialEdgeState,
	step,
	stepTimer,
	triggerSpec,
	type Effect
} from "./engine";

const MAX_INPUTS = 200_000;
const MAX_RUNS = 500;

type Fire = Extract<Effect, { type: "fire" }>;
type Input = { value: number | string; ts: number };

export async function simulateRule(db: Sql, rule: RuleApi, from: number, to: number): Promise<HistoryEntry[]> {
	const inputs = await loadInputs(db, rule.trigger, from, to);
	const fires = replay(triggerSpec(rule.trigger), inputs, to);
	const runs: HistoryEntry[] = [];
	for (const [n, f] of fires.entries()) {
		const { trace, ok } = await traceOf(db, rule, f);
		runs.push(simulatedRun(rule, f, -(n + 1), trace, ok));
	}
	return runs;
}

/** The trigger's stored inputs in the window: its datapoint's readings, or its device's status changes. */
async function loadInputs(db: Sql, t: RuleApi["trigger"], from: number, to: number): Promise<Input[]> {
	if (t.type === "reading")
		return (
			await db.query(
				"SELECT value, timestamp FROM decoded_data WHERE device_id = $1 AND datapoint_id = " +
					"$2 AND timestamp BETWEEN $3 AND $4 ORDER BY timestamp LIMIT $5",
				[t.deviceId, t.datapointId, new Date(from), new Date(to), MAX_INPUTS]
			)
		).map(r => ({ value: Number(r.value), ts: new Date(r.timestamp).getTime() }));
	return (
		await db.query(
			"SELECT status, at FROM device_events WHERE device_id = $1 AND type = 'status' AND " +
				"at BETWEEN $2 AND $3 ORDER BY at LIMIT $4",
			[t.deviceId, new Date(from), new Date(to), MAX_INPUTS]
		)
	).map(r => ({ value: String(r.status), ts: new Date(r.at).getTime() }));
}

/** The engine over the inputs from a fresh state: the times the trigger fires (at most MAX_RUNS). */
function replay(spec: ReturnType<typeof triggerSpec>, inputs: Input[], to: number): Fire[] {
	const fires: Fire[] = [];
	let state = initialEdgeState();
	const due = (until: number) => {
		if (state.pendingSince != null && state.pendingSince + spec.forMs <= until) {
			const res = stepTimer(spec, state, state.pendingSince, until);
			state = res.state;
			for (const e of res.effects) if (e.type === "fire") fires.push(e);
		}
	};
	for (const input of inputs) {
		due(input.ts);
		const res = step(spec, state, input.value, input.ts);
		state = res.state;
		for (const e of res.effects) if (e.type === "fire") fires.push(e);
		if (fires.length >= MAX_RUNS) break;
	}
	due(to);
	return fires.slice(0, MAX_RUNS);
}

/** The trace a fire would leave: the trigger, the conditions up to the first that fails, then the actions. */
async function traceOf(db: Sql, rule: RuleApi, f: Fire): Promise<{ trace: TraceStep[]; ok: boolean }> {
	const at = new Date(f.ts).toISOString();
	const trace: TraceStep[] = [
		{ at, path: "trigger", step: "trigger", ok: true, detail: { value: f.value, heldMs: f.heldMs } }
	];
	for (const [i, c] of rule.conditions.entries()) {
		let res;
		if (c.type === "time") res = checkTimeCondition(c, f.ts);
		else {
			const [row] = await db.query(
				"SELECT value, timestamp FROM decoded_data WHERE device_id = $1 AND datapoint_id = $2 " +
					"AND timestamp <= $3 ORDER BY timestamp DESC LIMIT 1",
				[c.deviceId, c.datapointId, new Date(f.ts)]
			);
			res = checkReadingCondition(
				c,
				row ? { value: Number(row.value), ts: new Date(row.timestamp).getTime() } : null,
				f.ts
			);
		}
		trace.push({ at, path: `conditions[${i}]`, step: "condition", ok: res.ok, detail: res.detail });
		if (!res.ok) return { trace, ok: false };
	}
	for (const [i, a] of rule.actions.entries()) {
		trace.push({
			at,
			path: `actions[${i}]`,
			step: a.type === "delay" ? "delay" : "command",
			ok: true,
			detail:
				a.type === "delay"
					? { for: a.for }
					: { deviceId: a.deviceId, action: a.action, params: a.params, sent: false }
		});
	}
	return { trace, ok: true };
}

/** A history entry for a simulated fire (negative ids: it is not stored). */
function simulatedRun(rule: RuleApi, f: Fire, id: number, trace: TraceStep[], ok: boolean): HistoryEntry {
	const t = rule.trigger;
	const at = new Date(f.ts).toISOString();
	return {
		id,
		source: "rule",
		ruleId: rule.id,
		scheduleId: null,
		deviceId: t.deviceId,
		status: "simulated",
		scheduledFor: null,
		misfired: false,
		startedAt: at,
		finishedAt: at,
		trigger: {
			type: t.type,
			deviceId: t.deviceId,
			...(t.type === "reading" ? { datapointId: t.datapointId } : {}),
			value: f.value,
			ts: at,
			pendingSince: new Date(f.pendingSince).toISOString(),
			heldMs: f.heldMs,
			wouldRun: ok
		},
		commands: [],
		trace,
		causedBy: null
	};
}
