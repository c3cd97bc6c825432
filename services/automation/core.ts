/**
 * The automation runtime: rule inputs, durable timers, runs, schedules and the command outbox,
 * over PostgreSQL. Every change is a conditional update (a version compare-and-set, a unique
 * run key, a lease on a timer), so any number of instances of the service, redelivered
 * readings and restarts give one run per (rule, device, crossing) and per (schedule,
 * occurrence). The Moleculer service wires this to channels, events and routes; decisions are
 * in the pure modules ./engine, ./planner and ./outbox.
 */
import type { Database, Sql } from "../../mixins/db.mixin";
import type { Row } from "../../mixins/db/database";
import type {
	Action,
	CausedBy,
	CommandApi,
	CommandStatus,
	Condition,
	DeviceStateApi,
	RunSource,
	RunStatus,
	TraceStep,
	Trigger,
	WriteParams
} from "../shared/contracts/automation";
import { AUTOMATION_EVENTS, AUTOMATION_LIVE, parseDuration } from "../shared/contracts/automation";
import type { LiveMessage } from "../shared/contracts";
import {
	checkReadingCondition,
	checkTimeCondition,
	initialEdgeState,
	step,
	stepTimer,
	triggerSpec,
	type Effect,
	type EdgeState,
	type TriggerSpec
} from "./engine";
import { classifyDeliveryError, commandBodyKey, desiredOf, retryDelayMs } from "./outbox";
import { planDue, type DuePlan } from "./planner";
import { commandToApi, ms, rowToEdge, scheduleSpec } from "./store";
import { errorMessage } from "../shared/error-message";

const MAX_TRACE = 100;
const MAX_ACTIVE_RUNS = 10;
/** Suppressed runs in a row (among runs caused by other runs) before a rule is disabled. */
const SUPPRESSIONS_TO_DISABLE = 3;
const FAR_FUTURE = new Date("9999-01-01T00:00:00Z");
/**
 * SQL: the run's trace with the steps of parameter `param` appended (at most MAX_TRACE steps). Appends, so steps added
 * by another writer (a trigger ignored by mode single) are kept.
 */
const appendTrace = (param: string) =>
	`(SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM (SELECT e, i FROM ` +
	`jsonb_array_elements(trace || ${param}::jsonb) WITH ORDINALITY AS x(e, i) ORDER BY i LIMIT ` +
	`${MAX_TRACE}) y)`;
/**
 * Stores the (rule, device) edge state if the stored one is still `version` (null: none yet);
 * false when another writer came first.
 */
async function writeEdgeState(
	tx: Sql,
	ruleId: number,
	deviceId: number,
	version: number | null,
	s: EdgeState
): Promise<boolean> {
	const vals = [ruleId, deviceId, s.armed, dt(s.pendingSince), s.pendingValue, dt(s.lastFiredAt), dt(s.lastTs)];
	const rows =
		version == null
			? await tx.query(
					`INSERT INTO automation_rule_state (rule_id, device_id, armed, pending_since,
					 pending_value, last_fired_at, last_ts, version)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT DO NOTHING RETURNING version`,
					vals
				)
			: await tx.query(
					`UPDATE automation_rule_state SET armed = $3, pending_since = $4, pending_value = $5,
					 last_fired_at = $6, last_ts = $7, version = version + 1, updated_at = now()
					 WHERE rule_id = $1 AND device_id = $2 AND version = $8 RETURNING version`,
					[...vals, version]
				);
	return rows.length > 0;
}

/** (rule, device) state changes of one batch committed at once. */
const INPUT_WORKERS = 6;
/** Schedules handled at once in one sweep (the database pool has 10 connections). */
const SCHEDULE_WORKERS = 4;

export interface CoreDeps {
	db: Database;
	/** Lease owner: unique per running instance. */
	owner: string;
	tickMs: number;
	leaseMs: number;
	loopWindowMs: number;
	maxDepth: number;
	historyDays: number;
	requestTimeoutMs: number;
	/** Calls processor.write / processor.close on the device's node, retries off. */
	send(
		nodeID: string,
		action: "write" | "close",
		deviceId: number,
		params: Record<string, unknown>,
		timeoutMs: number
	): Promise<unknown>;
	emit(event: string, payload: unknown): void;
	broadcast(event: string, payload: unknown): void;
	push(messages: LiveMessage[]): void;
	log: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
}

export interface RuleRec {
	id: number;
	name: string;
	mode: string;
	trigger: Trigger;
	spec: TriggerSpec;
	conditions: Condition[];
	actions: Action[];
	maxRunsPerHour: number;
	deviceIds: number[];
	createdBy: string | null;
}

export interface Input {
	value: number | string;
	ts: number;
}

class Conflict extends Error {}

const now = () => Date.now();
const at = (t = now()) => new Date(t).toISOString();

export function toRuleRec(r: Row): RuleRec {
	const trigger = parseJson<Trigger>(r.trigger);
	return {
		id: Number(r.id),
		name: r.name,
		mode: r.mode,
		trigger,
		spec: triggerSpec(trigger),
		conditions: parseJson<Condition[]>(r.conditions),
		actions: parseJson<Action[]>(r.actions),
		maxRunsPerHour: Number(r.max_runs_per_hour),
		deviceIds: (r.device_ids ?? []).map(Number),
		createdBy: r.created_by ?? null
	};
}

export class AutomationCore {
	/** Enabled reading rules by datapoint id; device_status rules by device id. */
	byDatapoint = new Map<number, RuleRec[]>();
	byStatusDevice = new Map<number, RuleRec[]>();
	rules = new Map<number, RuleRec>();
	/** Latest reading per `${deviceId}:${datapointId}` seen here (reading conditions). */
	latest = new Map<string, { value: number; ts: number }>();
	counters = { readings: 0, evaluated: 0, conflicts: 0, runs: 0, commands: 0 };
	private inflight = new Set<Promise<unknown>>();
	private wakeTimer: NodeJS.Timeout | null = null;
	private wakeAt = Infinity;
	private sweeping = false;
	private sweepAgain = false;
	private stopped = false;
	private lastRetention = 0;
	onSweep: (() => void) | null = null;

	constructor(readonly d: CoreDeps) {}

	get db(): Database {
		return this.d.db;
	}

	async reloadRules(): Promise<void> {
		const rows = await this.db.query("SELECT * FROM automation_rules WHERE enabled");
		const byDp = new Map<number, RuleRec[]>();
		const byDev = new Map<number, RuleRec[]>();
		const all = new Map<number, RuleRec>();
		for (const r of rows) {
			const rec = toRuleRec(r);
			all.set(rec.id, rec);
			if (rec.trigger.type === "reading")
				byDp.set(rec.trigger.datapointId, [...(byDp.get(rec.trigger.datapointId) ?? []), rec]);
			else byDev.set(rec.trigger.deviceId, [...(byDev.get(rec.trigger.deviceId) ?? []), rec]);
		}
		this.byDatapoint = byDp;
		this.byStatusDevice = byDev;
		this.rules = all;
	}

	/** Runs a task in the background, tracked so stop() can wait for it. */
	track<T>(p: Promise<T>): void {
		const q = p
			.catch(err => this.d.log.warn(`automation: ${errorMessage(err)}`))
			.finally(() => this.inflight.delete(q));
		this.inflight.add(q);
	}

	async stop(): Promise<void> {
		this.stopped = true;
		if (this.wakeTimer) clearTimeout(this.wakeTimer);
		await Promise.all([...this.inflight]);
	}

	// ---- inputs: readings and device statuses ---------------------------------------------

	/** A batch from telemetry.readings: readings of datapoints no enabled rule uses cost a map lookup. */
	async processReadings(
		readings: Array<{ deviceId: number; datapointId: number; value: number; ts: number }>
	): Promise<void> {
		this.counters.readings += readings.length;
		const work = new Map<string, { rule: RuleRec; deviceId: number; inputs: Input[] }>();
		for (const r of readings) {
			const rules = this.byDatapoint.get(r.datapointId);
			if (!rules) continue;
			const k = `${r.deviceId}:${r.datapointId}`;
			const prev = this.latest.get(k);
			if (!prev || prev.ts < r.ts) this.latest.set(k, { value: r.value, ts: r.ts });
			for (const rule of rules) {
				if (rule.trigger.deviceId !== r.deviceId) continue;
				const key = `${rule.id}:${r.deviceId}`;
				let w = work.get(key);
				if (!w) work.set(key, (w = { rule, deviceId: r.deviceId, inputs: [] }));
				w.inputs.push({ value: r.value, ts: r.ts });
			}
		}
		if (work.size) await this.applyInputs([...work.values()]);
	}

	async processStatus(deviceId: number, status: string, ts: number): Promise<void> {
		const rules = this.byStatusDevice.get(deviceId);
		if (rules?.length)
			await this.applyInputs(rules.map(rule => ({ rule, deviceId, inputs: [{ value: status, ts }] })));
		if (status === "streaming") await this.deliverQueued(deviceId);
		this.pushState(deviceId);
	}

	/** Evaluates inputs per (rule, device) from the stored state and writes changes back by compare-and-set. */
	async applyInputs(items: Array<{ rule: RuleRec; deviceId: number; inputs: Input[] }>): Promise<void> {
		const rows = await this.db.query(
			"SELECT * FROM automation_rule_state WHERE (rule_id, device_id) IN (SELECT * FROM " +
				"unnest($1::int[], $2::int[]))",
			[items.map(i => i.rule.id), items.map(i => i.deviceId)]
		);
		const stored = new Map(rows.map(r => [`${r.rule_id}:${r.device_id}`, rowToEdge(r)!]));
		// Different (rule, device) pairs are independent: a few are committed at once.
		let next = 0;
		const worker = async () => {
			while (next < items.length) {
				const item = items[next++];
				await this.applyItem(item, stored.get(`${item.rule.id}:${item.deviceId}`) ?? null);
			}
		};
		await Promise.all(Array.from({ length: Math.min(INPUT_WORKERS, items.length) }, worker));
	}

	async applyItem(
		item: { rule: RuleRec; deviceId: number; inputs: Input[] },
		stored: { state: EdgeState; version: number } | null
	): Promise<void> {
		item.inputs.sort((a, b) => a.ts - b.ts);
		let current = stored;
		for (let attempt = 0; ; attempt++) {
			this.counters.evaluated += item.inputs.length;
			let state = current?.state ?? initialEdgeState();
			const effects: Effect[] = [];
			let changed = false;
			for (const input of item.inputs) {
				const res = step(item.rule.spec, state, input.value, input.ts);
				state = res.state;
				effects.push(...res.effects);
				changed ||= res.changed;
			}
			if (!changed) return;
			try {
				await this.commitTransition(item.rule, item.deviceId, current?.version ?? null, state, effects);
				return;
			} catch (err) {
				if (!(err instanceof Conflict) || attempt >= 5) throw err;
				// Another instance changed this state meanwhile: start again from what it wrote.
				this.counters.conflicts++;
				const [row] = await this.db.query(
					"SELECT * FROM automation_rule_state WHERE rule_id = $1 AND device_id = $2",
					[item.rule.id, item.deviceId]
				);
				current = rowToEdge(row);
			}
		}
	}

	/** Writes a new edge state if the stored one is still `version`, with its timers and run, in one transaction. */
	async commitTransition(
		rule: RuleRec,
		deviceId: number,
		version: number | null,
		s: EdgeState,
		effects: Effect[]
	): Promise<void> {
		const started: number[] = [];
		let disabled = false;
		let dueAt: number | null = null;
		const finished: Row[] = [];
		await this.db.transaction(async tx => {
			if (!(await writeEdgeState(tx, rule.id, deviceId, version, s))) throw new Conflict();
			for (const e of effects) {
				const key = `for:${rule.id}:${deviceId}:${e.pendingSince}`;
				if (e.type === "wait") {
					await tx.query(
						"INSERT INTO automation_timers (kind, key, rule_id, device_id, due_at, data) " +
							"VALUES ('for', $1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
						[key, rule.id, deviceId, new Date(e.dueAt), JSON.stringify({ pendingSince: e.pendingSince })]
					);
					dueAt = dueAt == null ? e.dueAt : Math.min(dueAt, e.dueAt);
				} else {
					await tx.query("DELETE FROM automation_timers WHERE key = $1", [key]);
					if (e.type === "fire") {
						const res = await this.createRuleRun(tx, rule, deviceId, e);
						if (res.runId && res.execute) started.push(res.runId);
						if (res.finished) finished.push(res.finished);
						disabled ||= res.disabled;
					}
				}
			}
		});
		if (dueAt != null) this.wake(dueAt);
		if (disabled) {
			this.d.broadcast(AUTOMATION_EVENTS.configChanged, { kind: "rule", id: rule.id });
			await this.reloadRules();
		}
		for (const r of finished) this.emitRunFinished(r);
		for (const id of started) this.track(this.executeRun(id));
	}

	/**
	 * A trigger fired: one run per (rule, device, pendingSince), unless the loop, depth or rate
	 * guard suppresses it or the rule's mode says otherwise. Inside the state transaction.
	 */
	async createRuleRun(tx: Sql, rule: RuleRec, deviceId: number, fire: FireEffect): Promise<RuleRunResult> {
		const trace: TraceStep[] = [
			{ at: at(), path: "trigger", step: "trigger", ok: true, detail: { value: fire.value, heldMs: fire.heldMs } }
		];
		const { causedBy, chain } = await findCause(tx, deviceId, fire.pendingSince, this.d.loopWindowMs);
		const ctx: RuleRunContext = { rule, deviceId, fire, causedBy, chain };
		const guard = await checkGuards(tx, rule, causedBy, chain, this.d.maxDepth);
		if (guard) return suppressRuleRun(tx, ctx, trace, guard, this.d.log);
		// A caused run that passed the guards is a legitimate chain: the loop streak starts over.
		if (causedBy)
			await tx.query(
				"UPDATE automation_rules SET suppressed_streak = 0 WHERE id = $1 AND suppressed_streak <> 0",
				[rule.id]
			);
		const slot = await applyRunMode(tx, rule, deviceId, fire);
		if (!slot) return noRun();
		const steps: TraceStep[] = slot.queued
			? [...trace, { at: at(), path: "trigger", step: "queued", ok: true, detail: { behind: slot.behind } }]
			: trace;
		const [row] = await insertRuleRun(tx, ctx, slot.queued ? "waiting" : "running", steps, null);
		if (!row) return noRun();
		await this.insertRunTimer(tx, Number(row.id), slot.queued);
		this.counters.runs++;
		return { runId: Number(row.id), execute: !slot.queued, disabled: false, finished: null };
	}

	/**
	 * The run's own timer: claimed (with this instance's lease) by whoever executes it; a crash lets another take over.
	 */
	async insertRunTimer(tx: Sql, runId: number, queued = false): Promise<void> {
		await tx.query(
			"INSERT INTO automation_timers (kind, key, run_id, due_at, data, lease_owner, lease_until) " +
				"VALUES ('run', $1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
			[
				`run:${runId}`,
				runId,
				queued ? FAR_FUTURE : new Date(),
				JSON.stringify(queued ? { queued: true } : {}),
				queued ? null : this.d.owner,
				queued ? null : new Date(now() + this.d.leaseMs)
			]
		);
	}

	// ---- runs --------------------------------------------------------------------------------

	/** Executes (or resumes) a run this instance holds the lease of: conditions, then actions in order. */
	async executeRun(runId: number): Promise<void> {
		const [run] = await this.db.query("SELECT * FROM automation_runs WHERE id = $1", [runId]);
		if (!run || (run.status !== "running" && run.status !== "waiting")) {
			await this.db.query("DELETE FROM automation_timers WHERE key = $1", [`run:${runId}`]);
			return;
		}
		const trace = runTrace(parseTrace(run.trace));
		const conditions = parseJson<Condition[]>(run.conditions);
		const actions = parseJson<Action[]>(run.actions);
		let next = Number(run.next_action);
		if (run.status === "waiting")
			await this.db.query("UPDATE automation_runs SET status = 'running' WHERE id = $1", [runId]);
		// Conditions are checked once: a run resumed after a delay or a restart has them in its trace.
		if (next === 0 && conditions.length && !trace.all.some(s => s.step === "condition")) {
			if (!(await this.checkRunConditions(conditions, trace))) return this.finishRun(run, trace.fresh, "skipped");
		}
		for (; next < actions.length; next++) {
			const a = actions[next];
			if (a.type === "delay") return this.pauseRun(runId, next, a.for, trace);
			await this.runCommandAction(run, runId, next, a, trace);
		}
		await this.finishRun(run, trace.fresh, null);
	}

	/** Checks the run's conditions in order, each into the trace; false at the first that does not hold. */
	async checkRunConditions(conditions: Condition[], trace: RunTrace): Promise<boolean> {
		for (let i = 0; i < conditions.length; i++) {
			const res = await this.checkCondition(conditions[i], now());
			trace.add({ at: at(), path: `conditions[${i}]`, step: "condition", ok: res.ok, detail: res.detail });
			if (!res.ok) return false;
		}
		return true;
	}

	/**
	 * A delay action: the run waits, its timer released and due when the delay ends, so any
	 * instance resumes it at the next action.
	 */
	async pauseRun(runId: number, index: number, delay: string, trace: RunTrace): Promise<void> {
		const dueAt = now() + (parseDuration(delay) ?? 0);
		trace.add({
			at: at(),
			path: `actions[${index}]`,
			step: "delay",
			ok: true,
			detail: { for: delay, until: at(dueAt) }
		});
		await this.db.transaction(async tx => {
			await tx.query(
				`UPDATE automation_runs SET status = 'waiting', next_action = $2, trace = ` +
					`${appendTrace("$3")} WHERE id = $1`,
				[runId, index + 1, trace.take()]
			);
			await tx.query(
				"UPDATE automation_timers SET due_at = $2, lease_owner = NULL, lease_until = NULL WHERE key = $1",
				[`run:${runId}`, new Date(dueAt)]
			);
		});
		this.wake(dueAt);
	}

	/**
	 * A command action: its command (one per run and action, by idempotency key, so a resumed run
	 * never sends twice), delivered now when queued; the outcome goes into the trace.
	 */
	async runCommandAction(run: Row, runId: number, index: number, a: CommandStep, trace: RunTrace): Promise<void> {
		const cmd = await this.ensureCommand({
			deviceId: a.deviceId,
			action: a.action,
			params: a.params,
			ttl: a.ttl,
			ttlMs: parseDuration(a.ttl) ?? 60_000,
			caller: "system",
			idempotencyKey: `run:${runId}:${index}`,
			source: run.source,
			runId,
			createdBy: run.created_by ?? null
		});
		const after = cmd.row.status === "queued" ? ((await this.deliver(Number(cmd.row.id))) ?? cmd.row) : cmd.row;
		const status = after.status as CommandStatus;
		trace.add({
			at: at(),
			path: `actions[${index}]`,
			step: "command",
			ok: status === "succeeded" || status === "queued" || status === "sending",
			detail: {
				commandId: Number(after.id),
				deviceId: a.deviceId,
				status,
				...(after.error ? { error: parseJson(after.error) } : {})
			}
		});
		await this.db.query(`UPDATE automation_runs SET next_action = $2, trace = ${appendTrace("$3")} WHERE id = $1`, [
			runId,
			index + 1,
			trace.take()
		]);
	}

	async checkCondition(c: Condition, t: number): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
		if (c.type === "time") return checkTimeCondition(c, t);
		let latest = this.latest.get(`${c.deviceId}:${c.datapointId}`) ?? null;
		// Readings seen by another instance are in decoded_data (written by the pipeline sink).
		const [row] = await this.db.query(
			"SELECT value, timestamp FROM decoded_data WHERE device_id = $1 AND datapoint_id = $2 ORDER BY " +
				"timestamp DESC LIMIT 1",
			[c.deviceId, c.datapointId]
		);
		if (row && (!latest || ms(row.timestamp)! > latest.ts))
			latest = { value: Number(row.value), ts: ms(row.timestamp)! };
		return checkReadingCondition(c, latest, t);
	}

	/** Ends a run with its last steps appended; the status from its commands unless `forced`. */
	async finishRun(run: Row, steps: TraceStep[], forced: RunStatus | null): Promise<void> {
		let status: RunStatus = forced ?? "succeeded";
		if (!forced) {
			const cmds = await this.db.query("SELECT status FROM automation_commands WHERE run_id = $1", [run.id]);
			const bad = cmds.filter(
				c => c.status === "failed" || c.status === "expired" || c.status === "cancelled"
			).length;
			status = !cmds.length || bad === 0 ? "succeeded" : bad === cmds.length ? "failed" : "partial";
		}
		const [row] = await this.db.transaction(async tx => {
			const rows = await tx.query(
				`UPDATE automation_runs SET status = $2, finished_at = now(), trace = ${appendTrace("$3")} ` +
					`WHERE id = $1 AND status IN ('running', 'waiting') RETURNING *`,
				[run.id, status, JSON.stringify(steps)]
			);
			await tx.query("DELETE FROM automation_timers WHERE key = $1", [`run:${run.id}`]);
			// mode queued: the oldest run waiting behind this one goes next.
			if (run.rule_id != null || run.schedule_id != null) {
				await tx.query(
					`UPDATE automation_timers SET due_at = now(), data = '{}'::jsonb WHERE id = (
					   SELECT t.id FROM automation_timers t JOIN automation_runs r ON r.id = t.run_id
					   WHERE t.kind = 'run' AND t.data->>'queued' = 'true' AND r.rule_id IS NOT DISTINCT FROM $1 AND
					   r.schedule_id IS NOT DISTINCT FROM $2
					   ORDER BY r.id LIMIT 1)`,
					[run.rule_id, run.schedule_id]
				);
			}
			return rows;
		});
		if (row) this.emitRunFinished(row);
		this.wake(now());
	}

	/** The run of a manual command ends when its command does. */
	async finishManual(runId: number, cmd: CommandApi): Promise<void> {
		const [run] = await this.db.query("SELECT * FROM automation_runs WHERE id = $1 AND status = 'running'", [
			runId
		]);
		if (!run) return;
		await this.finishRun(
			run,
			[
				{
					at: at(),
					path: "actions[0]",
					step: "command",
					ok: cmd.status === "succeeded",
					detail: { commandId: cmd.id, status: cmd.status, ...(cmd.error ? { error: cmd.error } : {}) }
				}
			],
			null
		);
	}

	emitRunFinished(r: Row): void {
		this.d.emit(AUTOMATION_EVENTS.runFinished, {
			runId: Number(r.id),
			source: r.source,
			ruleId: r.rule_id == null ? null : Number(r.rule_id),
			scheduleId: r.schedule_id == null ? null : Number(r.schedule_id),
			status: r.status,
			at: at()
		});
	}

	// ---- commands ---------------------------------------------------------------------------

	/** Inserts a command unless (caller, key) exists; answers the row and whether it is new. */
	async ensureCommand(
		c: {
			deviceId: number;
			action: "write" | "close";
			params: Record<string, unknown>;
			ttl: string;
			ttlMs: number;
			caller: string;
			idempotencyKey: string | null;
			source: RunSource;
			runId: number | null;
			createdBy: string | null;
		},
		tx: Sql = this.db
	): Promise<{ row: Row; created: boolean; bodyKey: string }> {
		const bodyKey = commandBodyKey(c.deviceId, c.action, c.params, c.ttl);
		const params = c.action === "close" ? {} : c.params;
		const [row] = await tx.query(
			`INSERT INTO automation_commands (device_id, action, params, caller, idempotency_key, body_hash, ttl_ms,
			 expires_at, run_id, source, created_by, next_attempt_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			 ON CONFLICT (caller, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
			// The creator attempts it right away; the sweep takes it over only if that attempt never happens.
			[
				c.deviceId,
				c.action,
				JSON.stringify(params),
				c.caller,
				c.idempotencyKey,
				bodyKey,
				c.ttlMs,
				new Date(now() + c.ttlMs),
				c.runId,
				c.source,
				c.createdBy,
				new Date(now() + this.d.requestTimeoutMs)
			]
		);
		if (row) {
			this.counters.commands++;
			this.notifyCommand(row);
			return { row, created: true, bodyKey };
		}
		const [existing] = await tx.query(
			"SELECT * FROM automation_commands WHERE caller = $1 AND idempotency_key = $2",
			[c.caller, c.idempotencyKey]
		);
		return { row: existing, created: false, bodyKey };
	}

	/**
	 * One delivery attempt of a queued command: only to a streaming device, on its node, retries
	 * off. Answers the command row after the attempt (unchanged when it stays queued).
	 */
	async deliver(commandId: number): Promise<Row | null> {
		const [c] = await this.db.query(
			"SELECT c.*, d.status AS device_status, d.node_id AS device_node FROM automation_commands c " +
				"LEFT JOIN devices d ON d.id = c.device_id WHERE c.id = $1",
			[commandId]
		);
		if (!c || c.status !== "queued") return c ?? null;
		if (ms(c.expires_at)! <= now()) return (await this.expire(commandId)) ?? c;
		if (c.device_status !== "streaming" || !c.device_node) return c;
		const timeout = this.d.requestTimeoutMs;
		const [sending] = await this.db.query(
			`UPDATE automation_commands SET status = 'sending', attempts = attempts + 1, last_attempt_at = now(),
			 node_id = $2, lease_until = $3, updated_at = now()
			 WHERE id = $1 AND status = 'queued' RETURNING *`,
			[commandId, c.device_node, new Date(now() + timeout + this.d.leaseMs)]
		);
		if (!sending)
			return (await this.db.query("SELECT * FROM automation_commands WHERE id = $1", [commandId]))[0] ?? null;
		this.notifyCommand(sending);
		const update = await this.sendOnce(c, Number(sending.attempts), timeout);
		const done = update.status !== "queued";
		const [row] = await this.db.query(
			`UPDATE automation_commands SET status = $2, error = $3, finished_at = $4,
			 next_attempt_at = COALESCE($5, next_attempt_at), lease_until = NULL, updated_at = now()
			 WHERE id = $1 AND status = 'sending' RETURNING *`,
			[
				commandId,
				update.status,
				update.error ? JSON.stringify(update.error) : null,
				done ? new Date() : null,
				update.nextAttempt ?? null
			]
		);
		if (!row) return null;
		if (row.status === "succeeded") await this.recordDesired(row);
		this.notifyCommand(row);
		return row;
	}

	/**
	 * Sends command row `c` to its device's node once: succeeded, failed for good, or queued again
	 * (with when to retry, after `attempts` tries) when the node or the device was not there.
	 */
	private async sendOnce(
		c: Row,
		attempts: number,
		timeout: number
	): Promise<{ status: CommandStatus; error: unknown; nextAttempt?: Date }> {
		try {
			await this.d.send(
				c.device_node,
				c.action,
				Number(c.device_id),
				parseJson<Record<string, unknown>>(c.params),
				timeout
			);
			return { status: "succeeded", error: null };
		} catch (err) {
			const outcome = classifyDeliveryError(err);
			return outcome.kind === "fail"
				? { status: "failed", error: outcome.error }
				: {
						status: "queued",
						error: { type: "REQUEUED", message: outcome.reason },
						nextAttempt: new Date(now() + retryDelayMs(attempts))
					};
		}
	}

	async expire(commandId: number): Promise<Row | null> {
		const [row] = await this.db.query(
			"UPDATE automation_commands SET status = 'expired', finished_at = now(), updated_at = now(), " +
				"error = $2 WHERE id = $1 AND status = 'queued' RETURNING *",
			[
				commandId,
				JSON.stringify({
					type: "EXPIRED",
					message: "the device did not come back before the command's TTL passed"
				})
			]
		);
		if (row) this.notifyCommand(row);
		return row ?? null;
	}

	async cancel(commandId: number): Promise<Row | null> {
		const [row] = await this.db.query(
			"UPDATE automation_commands SET status = 'cancelled', finished_at = now(), updated_at = now() " +
				"WHERE id = $1 AND status = 'queued' RETURNING *",
			[commandId]
		);
		if (row) this.notifyCommand(row);
		return row ?? null;
	}

	async deliverQueued(deviceId: number): Promise<void> {
		const rows = await this.db.query(
			"SELECT id FROM automation_commands WHERE device_id = $1 AND status = 'queued' ORDER BY id LIMIT 100",
			[deviceId]
		);
		for (const r of rows) await this.deliver(Number(r.id));
	}

	async recordDesired(cmd: Row): Promise<void> {
		const d = desiredOf(cmd.action, parseJson<WriteParams>(cmd.params));
		await this.db.query(
			`INSERT INTO automation_device_state (device_id, desired, last_command_id, updated_at) VALUES ($1, $2, $3,
			 now())
			 ON CONFLICT (device_id) DO UPDATE SET desired = automation_device_state.desired || EXCLUDED.desired,
			 last_command_id = GREATEST(automation_device_state.last_command_id, EXCLUDED.last_command_id), updated_at
			 = now()`,
			[cmd.device_id, JSON.stringify(d ? { [d[0]]: d[1] } : {}), cmd.id]
		);
	}

	notifyCommand(row: Row): void {
		const cmd = commandToApi(row);
		if (cmd.source === "manual" && cmd.runId != null && !["queued", "sending"].includes(cmd.status))
			this.track(this.finishManual(cmd.runId, cmd));
		this.d.emit(AUTOMATION_EVENTS.commandChanged, {
			commandId: cmd.id,
			deviceId: cmd.deviceId,
			runId: cmd.runId,
			status: cmd.status,
			at: at()
		});
		this.d.push([{ room: `device:${cmd.deviceId}`, event: AUTOMATION_LIVE.command, data: cmd }]);
		if (cmd.status !== "sending") this.pushState(cmd.deviceId);
	}

	pushState(deviceId: number): void {
		this.track(
			this.deviceState(deviceId).then(state => {
				if (state) this.d.push([{ room: `device:${deviceId}`, event: AUTOMATION_LIVE.state, data: state }]);
			})
		);
	}

	async deviceState(deviceId: number): Promise<DeviceStateApi | null> {
		const [d] = await this.db.query(
			`SELECT d.id, d.status, d.node_id, s.desired, s.updated_at,
			        (SELECT count(*)::int FROM automation_commands c WHERE c.device_id = d.id AND c.status IN
			        ('queued', 'sending')) AS pending,
			        (SELECT row_to_json(c) FROM automation_commands c WHERE c.device_id = d.id ORDER BY c.id DESC
			        LIMIT 1) AS last
			 FROM devices d LEFT JOIN automation_device_state s ON s.device_id = d.id WHERE d.id = $1`,
			[deviceId]
		);
		if (!d) return null;
		const last = d.last ? parseJson<Row>(d.last) : null;
		return {
			deviceId,
			status: d.status ?? null,
			nodeID: d.node_id ?? null,
			pendingCommands: Number(d.pending),
			lastCommand: last ? commandToApi(last) : null,
			desired: d.desired ? parseJson<Record<string, number | string>>(d.desired) : {},
			updatedAt: d.updated_at ? new Date(d.updated_at).toISOString() : null
		};
	}

	// ---- the sweep: timers, schedules, outbox ---------------------------------------------------

	/** Makes the next sweep happen no later than `t` (a `for` wait or a delay ending between ticks). */
	wake(t: number): void {
		if (this.stopped || t >= this.wakeAt) return;
		if (this.wakeTimer) clearTimeout(this.wakeTimer);
		this.wakeAt = t;
		this.wakeTimer = setTimeout(
			() => {
				this.wakeTimer = null;
				this.wakeAt = Infinity;
				this.track(this.sweep());
			},
			Math.max(0, t - now())
		);
	}

	/** One pass; a pass requested while one runs happens right after it. */
	async sweep(): Promise<void> {
		if (this.sweeping) {
			this.sweepAgain = true;
			return;
		}
		this.sweeping = true;
		try {
			do {
				this.sweepAgain = false;
				await this.sweepTimers();
				await this.sweepSchedules();
				await this.sweepOutbox();
				if (now() - this.lastRetention > 3_600_000) await this.retention();
			} while (this.sweepAgain && !this.stopped);
		} finally {
			this.sweeping = false;
			this.onSweep?.();
		}
	}

	async sweepTimers(): Promise<void> {
		const t = now();
		const timers = await this.db.query(
			`UPDATE automation_timers SET lease_owner = $1, lease_until = $2 WHERE id IN (
			   SELECT id FROM automation_timers WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) ORDER
			   BY due_at LIMIT 100 FOR UPDATE SKIP LOCKED)
			 RETURNING *`,
			[this.d.owner, new Date(t + this.d.leaseMs), new Date(t)]
		);
		timers.sort((a, b) => ms(a.due_at)! - ms(b.due_at)!);
		for (const timer of timers) {
			if (this.stopped) return;
			try {
				if (timer.kind === "run") await this.executeRun(Number(timer.run_id));
				else await this.fireForTimer(timer);
			} catch (err) {
				this.d.log.warn(`automation: timer ${timer.key} failed: ${errorMessage(err)}`);
			}
		}
	}

	/** A `for` wait came due: fires if the same wait is still pending (compare-and-set, as for readings). */
	async fireForTimer(timer: Row): Promise<void> {
		let rule = this.rules.get(Number(timer.rule_id));
		if (!rule) {
			const [r] = await this.db.query("SELECT * FROM automation_rules WHERE id = $1 AND enabled", [
				timer.rule_id
			]);
			if (r) rule = toRuleRec(r);
		}
		const pendingSince = Number(parseJson<{ pendingSince: number }>(timer.data).pendingSince);
		if (rule) {
			for (let attempt = 0; attempt < 5; attempt++) {
				const [row] = await this.db.query(
					"SELECT * FROM automation_rule_state WHERE rule_id = $1 AND device_id = $2",
					[timer.rule_id, timer.device_id]
				);
				const cur = rowToEdge(row);
				if (!cur) break;
				const res = stepTimer(rule.spec, cur.state, pendingSince, now());
				if (!res.changed) break;
				try {
					await this.commitTransition(rule, Number(timer.device_id), cur.version, res.state, res.effects);
					return;
				} catch (err) {
					if (!(err instanceof Conflict)) throw err;
					this.counters.conflicts++;
				}
			}
		}
		await this.db.query("DELETE FROM automation_timers WHERE id = $1", [timer.id]);
	}

	async sweepSchedules(): Promise<void> {
		const t = now();
		const due = await this.db.query(
			"SELECT * FROM automation_schedules WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at LIMIT 50",
			[new Date(t)]
		);
		// A few schedules at a time (each claim is its own transaction); one schedule's runs in order.
		let next = 0;
		const worker = async () => {
			while (next < due.length && !this.stopped) await this.runDueSchedule(due[next++], t);
		};
		await Promise.all(Array.from({ length: Math.min(SCHEDULE_WORKERS, due.length) }, worker));
	}

	/**
	 * Claims a due schedule's occurrence (compare-and-set on next_run_at, so one instance wins)
	 * and records its runs in one transaction; then executes the started ones.
	 */
	async runDueSchedule(s: Row, t: number): Promise<void> {
		const plan = planDue(scheduleSpec(s), ms(s.next_run_at)!, t, s.misfire);
		const started: number[] = [];
		const finished: Row[] = [];
		await this.db.transaction(async tx => {
			if (!(await claimOccurrence(tx, s, plan))) return; // another instance took this occurrence
			if (plan.missed != null) {
				const step: TraceStep = {
					at: at(),
					path: "trigger",
					step: "missed",
					ok: false,
					detail: { scheduledFor: at(plan.missed), misfire: "skip" }
				};
				const [row] = await insertScheduleRun(tx, s, plan.missed, true, "missed", [step], new Date());
				if (row) finished.push(row);
			}
			for (const r of plan.runs) {
				const res = await this.startScheduleRun(tx, s, r, t);
				if (res.finished) finished.push(res.finished);
				if (res.started != null) started.push(res.started);
			}
		});
		for (const r of finished) this.emitRunFinished(r);
		// In order: the runs of one schedule in one sweep keep their occurrence order.
		for (const id of started) await this.executeRun(id);
		if (plan.next != null) this.wake(plan.next);
	}

	/**
	 * One due occurrence: skipped when the schedule's mode (single, or MAX_ACTIVE_RUNS reached)
	 * says a run in progress excludes it, waiting behind it in mode queued, else started.
	 */
	async startScheduleRun(
		tx: Sql,
		s: Row,
		r: DuePlan["runs"][number],
		t: number
	): Promise<{ started: number | null; finished: Row | null }> {
		const [active] = await tx.query(
			"SELECT count(*)::int AS n FROM automation_runs WHERE schedule_id = $1 AND source = " +
				"'schedule' AND status IN ('running', 'waiting')",
			[s.id]
		);
		const busy = Number(active.n) > 0;
		const step: TraceStep = {
			at: at(),
			path: "trigger",
			step: "trigger",
			ok: true,
			detail: { scheduledFor: at(r.scheduledFor), lateMs: t - r.scheduledFor, misfired: r.misfired }
		};
		if (busy && (s.mode === "single" || Number(active.n) >= MAX_ACTIVE_RUNS)) {
			const ignored: TraceStep = {
				at: at(),
				path: "trigger",
				step: "ignored",
				ok: false,
				detail: { reason: "mode single: a run is in progress" }
			};
			const [row] = await insertScheduleRun(
				tx,
				s,
				r.scheduledFor,
				r.misfired,
				"skipped",
				[step, ignored],
				new Date()
			);
			return { started: null, finished: row ?? null };
		}
		const queued = busy && s.mode === "queued";
		const [row] = await insertScheduleRun(
			tx,
			s,
			r.scheduledFor,
			r.misfired,
			queued ? "waiting" : "running",
			[step],
			null
		);
		if (!row) return { started: null, finished: null };
		await this.insertRunTimer(tx, Number(row.id), queued);
		return { started: queued ? null : Number(row.id), finished: null };
	}

	async sweepOutbox(): Promise<void> {
		const expired = await this.db.query(
			"SELECT id FROM automation_commands WHERE status = 'queued' AND expires_at <= now() ORDER BY id LIMIT 500"
		);
		for (const r of expired) await this.expire(Number(r.id));
		// An attempt whose answer never came (the instance died while sending): the write may have
		// happened, so it is failed, never sent again.
		const lost = await this.db.query(
			"UPDATE automation_commands SET status = 'failed', finished_at = now(), updated_at = now(), " +
				"lease_until = NULL, error = $1 WHERE status = 'sending' AND lease_until < now() RETURNING *",
			[
				JSON.stringify({
					type: "DELIVERY_UNKNOWN",
					message:
						"the instance sending this command stopped before the device's node answered; it " +
						"is not repeated"
				})
			]
		);
		for (const r of lost) this.notifyCommand(r);
		const retry = await this.db.query(
			`SELECT c.id FROM automation_commands c JOIN devices d ON d.id = c.device_id
			 WHERE c.status = 'queued' AND c.next_attempt_at <= now() AND d.status = 'streaming' ORDER BY c.id LIMIT
			 100`
		);
		for (const r of retry) await this.deliver(Number(r.id));
	}

	async retention(): Promise<void> {
		this.lastRetention = now();
		const cutoff = new Date(now() - this.d.historyDays * 86_400_000);
		await this.db.query(
			"DELETE FROM automation_commands WHERE created_at < $1 AND status NOT IN ('queued', 'sending')",
			[cutoff]
		);
		await this.db.query(
			"DELETE FROM automation_runs WHERE started_at < $1 AND status NOT IN ('running', 'waiting')",
			[cutoff]
		);
	}
}

// ---- the steps of a rule run's creation (AutomationCore.createRuleRun) ----------------------

type FireEffect = Extract<Effect, { type: "fire" }>;
type Guard = { reason: "loop" | "depth" | "rate_limit"; detail: Record<string, unknown> };
type RuleRunResult = { runId: number | null; execute: boolean; disabled: boolean; finished: Row | null };
/** What a rule run row is made of besides its status and trace. */
type RuleRunContext = {
	rule: RuleRec;
	deviceId: number;
	fire: FireEffect;
	causedBy: CausedBy | null;
	chain: number[];
};

const noRun = (): RuleRunResult => ({ runId: null, execute: false, disabled: false, finished: null });

/** The trigger as stored on the run: what crossed, when, and how long it held. */
function ruleTrigger(rule: RuleRec, deviceId: number, fire: FireEffect): Record<string, unknown> {
	const t = rule.trigger;
	const when = { ts: at(fire.ts), pendingSince: at(fire.pendingSince), heldMs: fire.heldMs };
	return t.type === "reading"
		? { type: "reading", deviceId, datapointId: t.datapointId, value: fire.value, ...when }
		: { type: "device_status", deviceId, status: fire.value, ...when };
}

/**
 * Loop guard input: a reading shortly after a command succeeded on this device was caused by
 * that command's run; the chain is the rules that led to it.
 */
async function findCause(
	tx: Sql,
	deviceId: number,
	pendingSince: number,
	loopWindowMs: number
): Promise<{ causedBy: CausedBy | null; chain: number[] }> {
	const [cause] = await tx.query(
		`SELECT c.id, c.run_id, r.rule_id, r.chain, r.caused_by FROM automation_commands c
		 JOIN automation_runs r ON r.id = c.run_id
		 WHERE c.device_id = $1 AND c.status = 'succeeded' AND c.finished_at BETWEEN $2 AND $3
		 ORDER BY c.finished_at DESC LIMIT 1`,
		[deviceId, new Date(pendingSince - loopWindowMs), new Date(pendingSince + 1000)]
	);
	if (!cause) return { causedBy: null, chain: [] };
	const parent = cause.caused_by ? parseJson<CausedBy | null>(cause.caused_by) : null;
	const causedBy: CausedBy = {
		runId: Number(cause.run_id),
		commandId: Number(cause.id),
		ruleId: cause.rule_id == null ? null : Number(cause.rule_id),
		depth: (parent?.depth ?? 0) + 1
	};
	const chain = [...(cause.chain ?? []).map(Number), ...(cause.rule_id != null ? [Number(cause.rule_id)] : [])];
	return { causedBy, chain };
}

/** The guard that suppresses this run, if any: a loop in its causes, too deep a chain, or the hourly rate. */
async function checkGuards(
	tx: Sql,
	rule: RuleRec,
	causedBy: CausedBy | null,
	chain: number[],
	maxDepth: number
): Promise<Guard | null> {
	if (causedBy && chain.includes(rule.id)) return { reason: "loop", detail: { chain, depth: causedBy.depth } };
	if (causedBy && causedBy.depth > maxDepth) return { reason: "depth", detail: { depth: causedBy.depth, maxDepth } };
	const [{ n }] = await tx.query(
		"SELECT count(*)::int AS n FROM automation_runs WHERE rule_id = $1 AND source = 'rule' AND " +
			"started_at > $2 AND status NOT IN ('suppressed', 'skipped')",
		[rule.id, new Date(now() - 3_600_000)]
	);
	if (Number(n) < rule.maxRunsPerHour) return null;
	return { reason: "rate_limit", detail: { runsLastHour: Number(n), maxRunsPerHour: rule.maxRunsPerHour } };
}

/** Inserts the rule run unless this (rule, device, crossing) has one already (then no row). */
function insertRuleRun(
	tx: Sql,
	ctx: RuleRunContext,
	status: RunStatus,
	steps: TraceStep[],
	finishedAt: Date | null
): Promise<Row[]> {
	const { rule, deviceId, fire, causedBy, chain } = ctx;
	return tx.query(
		`INSERT INTO automation_runs (source, rule_id, device_id, pending_since, trigger, conditions, actions,
		 caused_by, chain, device_ids, created_by, status, trace, finished_at)
		 VALUES ('rule', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		 ON CONFLICT (rule_id, device_id, pending_since) WHERE source = 'rule' DO NOTHING RETURNING *`,
		[
			rule.id,
			deviceId,
			new Date(fire.pendingSince),
			JSON.stringify(ruleTrigger(rule, deviceId, fire)),
			JSON.stringify(rule.conditions),
			JSON.stringify(rule.actions),
			causedBy ? JSON.stringify(causedBy) : null,
			chain,
			rule.deviceIds,
			rule.createdBy,
			status,
			JSON.stringify(steps),
			finishedAt
		]
	);
}

/** A guard stopped the trigger: the run is kept as `suppressed`, with the guard's reason in its trace. */
async function suppressRuleRun(
	tx: Sql,
	ctx: RuleRunContext,
	trace: TraceStep[],
	guard: Guard,
	log: CoreDeps["log"]
): Promise<RuleRunResult> {
	trace.push({
		at: at(),
		path: "trigger",
		step: "guard",
		ok: false,
		detail: { reason: guard.reason, ...guard.detail }
	});
	const [row] = await insertRuleRun(tx, ctx, "suppressed", trace, new Date());
	// Counted once per crossing: a redelivered reading finds the run and counts nothing.
	const disabled = row ? await countSuppression(tx, ctx.rule, guard, log) : false;
	return { runId: row ? Number(row.id) : null, execute: false, disabled, finished: row ?? null };
}

/**
 * Adds a loop or depth suppression to the rule's streak and disables the rule once the streak
 * reaches SUPPRESSIONS_TO_DISABLE; a rate limit disables it at once. True when disabled.
 */
async function countSuppression(tx: Sql, rule: RuleRec, guard: Guard, log: CoreDeps["log"]): Promise<boolean> {
	const counted = guard.reason !== "rate_limit";
	const [r] = await tx.query(
		`UPDATE automation_rules SET suppressed_streak = suppressed_streak + $2::int, ` +
			`updated_at = now() WHERE id = $1 RETURNING suppressed_streak`,
		[rule.id, counted ? 1 : 0]
	);
	const reason =
		guard.reason === "rate_limit"
			? "rate_limit"
			: Number(r?.suppressed_streak) >= SUPPRESSIONS_TO_DISABLE
				? "loop"
				: null;
	if (!reason) return false;
	await tx.query(
		"UPDATE automation_rules SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
		[rule.id, reason]
	);
	await tx.query("DELETE FROM automation_timers WHERE kind = 'for' AND rule_id = $1", [rule.id]);
	log.warn(`automation: rule ${rule.id} '${rule.name}' disabled (${reason})`);
	return true;
}

/**
 * What the rule's mode does with its runs in progress (locked until commit): null when this
 * crossing gets no run (mode single, or MAX_ACTIVE_RUNS reached: counted in the oldest active
 * run's trace); restart cancels them; queued waits behind them.
 */
async function applyRunMode(
	tx: Sql,
	rule: RuleRec,
	deviceId: number,
	fire: FireEffect
): Promise<{ queued: boolean; behind: number } | null> {
	const active = await tx.query(
		"SELECT id, status, trace FROM automation_runs WHERE rule_id = $1 AND source = 'rule' AND " +
			"status IN ('running', 'waiting') ORDER BY id FOR UPDATE",
		[rule.id]
	);
	if (!active.length) return { queued: false, behind: 0 };
	if (rule.mode === "single" || active.length >= MAX_ACTIVE_RUNS) {
		const reason =
			rule.mode === "single" ? "mode single: a run is in progress" : `${MAX_ACTIVE_RUNS} runs in progress`;
		const steps: TraceStep[] = [
			{
				at: at(),
				path: "trigger",
				step: "ignored",
				ok: false,
				detail: { value: fire.value, ts: at(fire.ts), deviceId, reason }
			}
		];
		await tx.query(`UPDATE automation_runs SET trace = ${appendTrace("$2")} WHERE id = $1`, [
			active[0].id,
			JSON.stringify(steps)
		]);
		return null;
	}
	if (rule.mode === "restart") for (const run of active) await cancelForRestart(tx, run.id);
	return { queued: rule.mode === "queued", behind: active.length };
}

/** Mode restart: a new trigger cancels a run in progress (and its timer), noted in its trace. */
async function cancelForRestart(tx: Sql, runId: unknown): Promise<void> {
	const steps: TraceStep[] = [
		{ at: at(), path: "trigger", step: "restarted", ok: false, detail: { reason: "mode restart: a new trigger" } }
	];
	await tx.query(
		`UPDATE automation_runs SET status = 'cancelled', finished_at = now(), trace = ` +
			`${appendTrace("$2")} WHERE id = $1`,
		[runId, JSON.stringify(steps)]
	);
	await tx.query("DELETE FROM automation_timers WHERE key = $1", [`run:${runId}`]);
}

// ---- a run's trace while it executes (AutomationCore.executeRun) ----------------------------

type CommandStep = Extract<Action, { type: "command" }>;
/** The trace so far (`all`) and the steps of this execution not yet written (`fresh`, appended, see appendTrace). */
type RunTrace = { all: TraceStep[]; fresh: TraceStep[]; add(step: TraceStep): void; take(): string };

function runTrace(all: TraceStep[]): RunTrace {
	const fresh: TraceStep[] = [];
	return {
		all,
		fresh,
		add(step) {
			all.push(step);
			fresh.push(step);
		},
		take: () => JSON.stringify(fresh.splice(0))
	};
}

// ---- the steps of a due schedule (AutomationCore.runDueSchedule) -----------------------------

/**
 * Moves the schedule's next run on if it is still the one read (false: another instance
 * claimed this occurrence first).
 */
async function claimOccurrence(tx: Sql, s: Row, plan: DuePlan): Promise<boolean> {
	const claimed = await tx.query(
		"UPDATE automation_schedules SET next_run_at = $3, last_run_at = COALESCE($4, " +
			"last_run_at), updated_at = now() WHERE id = $1 AND next_run_at = $2 RETURNING id",
		[
			s.id,
			s.next_run_at,
			plan.next == null ? null : new Date(plan.next),
			plan.runs.length ? new Date(plan.runs[plan.runs.length - 1].scheduledFor) : null
		]
	);
	return claimed.length > 0;
}

/** Inserts the run of one occurrence unless it has one already (then no row). */
function insertScheduleRun(
	tx: Sql,
	s: Row,
	scheduledFor: number,
	misfired: boolean,
	status: RunStatus,
	trace: TraceStep[],
	finishedAt: Date | null
): Promise<Row[]> {
	return tx.query(
		`INSERT INTO automation_runs (source, schedule_id, status, scheduled_for, misfired, trigger,
		 actions, trace, device_ids, created_by, finished_at)
		 VALUES ('schedule', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		 ON CONFLICT (schedule_id, scheduled_for) WHERE source = 'schedule' DO NOTHING RETURNING *`,
		[
			s.id,
			status,
			new Date(scheduledFor),
			misfired,
			JSON.stringify({ type: "schedule", scheduledFor: at(scheduledFor), misfired }),
			JSON.stringify(parseJson(s.actions)),
			JSON.stringify(trace),
			s.device_ids,
			s.created_by,
			finishedAt
		]
	);
}

function dt(t: number | null): Date | null {
	return t == null ? null : new Date(t);
}

function parseJson<T = unknown>(v: unknown): T {
	return (typeof v === "string" ? JSON.parse(v) : v) as T;
}

function parseTrace(v: unknown): TraceStep[] {
	return (parseJson<TraceStep[]>(v) ?? []).slice();
}

export type { CommandApi };
