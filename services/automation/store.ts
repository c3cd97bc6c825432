/**
 * Rows of the automation tables and their API shapes (contracts/automation.ts), plus the list
 * queries. Conditional updates that make runs unique live in ./core, next to their callers.
 */
import type { Sql } from "../../mixins/db.mixin";
import type { Row } from "../../mixins/db/database";
import type { CommandApi, HistoryEntry, RuleApi, RuleStateApi, ScheduleApi } from "../shared/contracts/automation";
import { formatDuration } from "../shared/contracts/automation";
import type { EdgeState } from "./engine";
import type { ScheduleSpec } from "./planner";

export const iso = (v: unknown): string | null => (v == null ? null : new Date(v as string).toISOString());
export const ms = (v: unknown): number | null => (v == null ? null : new Date(v as string).getTime());
const json = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;

export function ruleToApi(r: Row, states: Row[] = []): RuleApi {
	return {
		id: Number(r.id),
		name: r.name,
		enabled: r.enabled,
		mode: r.mode,
		trigger: json(r.trigger),
		conditions: json(r.conditions),
		actions: json(r.actions),
		maxRunsPerHour: Number(r.max_runs_per_hour),
		state: states.map(stateToApi),
		disabledReason: r.disabled_reason ?? null,
		createdBy: r.created_by ?? null,
		createdAt: iso(r.created_at)!,
		updatedAt: iso(r.updated_at)!
	};
}

export function stateToApi(s: Row): RuleStateApi {
	return {
		deviceId: Number(s.device_id),
		armed: s.armed,
		pendingSince: iso(s.pending_since),
		lastFiredAt: iso(s.last_fired_at)
	};
}

export function rowToEdge(s: Row | undefined): { state: EdgeState; version: number } | null {
	if (!s) return null;
	return {
		state: {
			armed: s.armed,
			pendingSince: ms(s.pending_since),
			pendingValue: s.pending_value == null ? null : Number(s.pending_value),
			lastFiredAt: ms(s.last_fired_at),
			lastTs: ms(s.last_ts)
		},
		version: Number(s.version)
	};
}

export function scheduleToApi(r: Row): ScheduleApi {
	return {
		id: Number(r.id),
		name: r.name,
		enabled: r.enabled,
		cron: r.cron ?? null,
		interval: r.interval_ms == null ? null : formatDuration(Number(r.interval_ms)),
		timezone: r.timezone,
		startAt: iso(r.start_at),
		endAt: iso(r.end_at),
		misfire: r.misfire,
		mode: r.mode,
		actions: json(r.actions),
		nextRunAt: iso(r.next_run_at),
		lastRunAt: iso(r.last_run_at),
		createdBy: r.created_by ?? null,
		createdAt: iso(r.created_at)!,
		updatedAt: iso(r.updated_at)!
	};
}

export function scheduleSpec(r: Row): ScheduleSpec {
	return {
		cron: r.cron ?? null,
		intervalMs: r.interval_ms == null ? null : Number(r.interval_ms),
		timezone: r.timezone ?? "UTC",
		startAt: ms(r.start_at),
		endAt: ms(r.end_at),
		anchor: ms(r.start_at) ?? ms(r.created_at)!
	};
}

export function commandToApi(c: Row): CommandApi {
	return {
		id: Number(c.id),
		deviceId: Number(c.device_id),
		action: c.action,
		params: json(c.params),
		status: c.status,
		idempotencyKey: c.idempotency_key ?? null,
		ttl: formatDuration(Number(c.ttl_ms)),
		expiresAt: iso(c.expires_at)!,
		attempts: Number(c.attempts),
		lastAttemptAt: iso(c.last_attempt_at),
		nodeID: c.node_id ?? null,
		error: c.error ? json(c.error) : null,
		runId: c.run_id == null ? null : Number(c.run_id),
		source: c.source,
		createdBy: c.created_by ?? null,
		createdAt: iso(c.created_at)!,
		updatedAt: iso(c.updated_at)!,
		finishedAt: iso(c.finished_at)
	};
}

export function runToApi(r: Row, commands: Row[] = []): HistoryEntry {
	return {
		id: Number(r.id),
		source: r.source,
		ruleId: r.rule_id == null ? null : Number(r.rule_id),
		scheduleId: r.schedule_id == null ? null : Number(r.schedule_id),
		deviceId: r.device_id == null ? null : Number(r.device_id),
		status: r.status,
		scheduledFor: iso(r.scheduled_for),
		misfired: !!r.misfired,
		startedAt: iso(r.started_at)!,
		finishedAt: iso(r.finished_at),
		trigger: r.trigger ? json(r.trigger) : null,
		commands: commands.map(commandToApi),
		trace: json(r.trace),
		causedBy: r.caused_by ? json(r.caused_by) : null
	};
}

/** Runs with their commands, in the order given. */
export async function loadRuns(db: Sql, where: string, params: unknown[], tail = ""): Promise<HistoryEntry[]> {
	const runs = await db.query(`SELECT * FROM automation_runs r WHERE ${where} ${tail}`, params);
	if (!runs.length) return [];
	const cmds = await db.query("SELECT * FROM automation_commands WHERE run_id = ANY($1::bigint[]) ORDER BY id", [
		runs.map(r => r.id)
	]);
	const byRun = new Map<number, Row[]>();
	for (const c of cmds) {
		const k = Number(c.run_id);
		byRun.set(k, [...(byRun.get(k) ?? []), c]);
	}
	return runs.map(r => runToApi(r, byRun.get(Number(r.id))));
}

export async function loadRulesWithState(db: Sql, where: string, params: unknown[], tail = ""): Promise<RuleApi[]> {
	const rules = await db.query(`SELECT * FROM automation_rules WHERE ${where} ${tail}`, params);
	if (!rules.length) return [];
	const states = await db.query(
		"SELECT * FROM automation_rule_state WHERE rule_id = ANY($1::int[]) ORDER BY device_id",
		[rules.map(r => r.id)]
	);
	return rules.map(r =>
		ruleToApi(
			r,
			states.filter(s => s.rule_id === r.id)
		)
	);
}

/** Keyset cursor over descending ids. */
export const encodeCursor = (id: number) => Buffer.from(String(id)).toString("base64url");
export function decodeCursor(c: string | undefined): number | null {
	if (!c) return null;
	const n = Number(Buffer.from(c, "base64url").toString());
	return Number.isSafeInteger(n) && n > 0 ? n : null;
}
