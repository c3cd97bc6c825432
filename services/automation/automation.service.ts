/**
 * automation: rules on readings and device statuses, schedules, device commands (an outbox
 * with TTL for offline devices), device state and a history with a trace of every run.
 * Reached under /api/automation from any gateway; any number of instances on any nodes give
 * one run per crossing and per occurrence (state and leases in PostgreSQL, see ./core).
 *
 * Readings arrive on `telemetry.readings` (group "automation"); commands go out with
 * `processor.write` / `processor.close` on the device's node, retries off. Handlers validate
 * (./validate), check access (./access) and call ./core, ./planner or ./simulate.
 */
import crypto from "node:crypto";
import type { Context, Service } from "moleculer";
import type { Database } from "../../mixins/db.mixin";
import type { Row, Sql } from "../../mixins/db/database";
import { DbMixin } from "../../mixins/db.mixin";
import { refParam, resolveDevice } from "../../mixins/refs";
import { fleetEnv } from "../shared/broker-env";
import {
	CHANNELS,
	EVENTS,
	LIVE_PUSH_EVENT,
	checkReadings,
	readingsOf,
	type DeviceStatusEvent,
	type LiveMessage
} from "../shared/contracts";
import {
	AUTOMATION_EVENTS,
	AUTOMATION_READINGS_GROUP,
	CommandApi,
	DeviceStateApi,
	HistoryEntry,
	RuleApi,
	ScheduleApi,
	type ConfigChangedEvent,
	type RunSource,
	type RuleDef
} from "../shared/contracts/automation";
import { Deleted, type TSchema } from "../shared/contracts/schema";
import { pageOf } from "../shared/lists";
import { ConflictError, NotFoundError } from "../shared/errors";
import { callerOf, visibleArraySql, visibleDevices, type Caller } from "./access";
import { AutomationCore } from "./core";
import { nextAfter, preview } from "./planner";
import { simulateRule } from "./simulate";
import { commandToApi, decodeCursor, encodeCursor, loadRulesWithState, loadRuns, ms, scheduleToApi } from "./store";
import {
	fail,
	validateCommand,
	validatePreview,
	validateRule,
	validateSchedule,
	validateSimulate,
	parseTime,
	type DeviceRef,
	type ScheduleDef
} from "./validate";
import { defineService } from "../shared/define-service";

type Meta = { user?: Caller; $statusCode?: number; $location?: string };
/** An action's context; `P` is what its `params` schema lets through (unknown: the handler does not read it). */
type Ctx<P = unknown> = Context<P, Meta>;

type This = Service & {
	db: Database;
	core: AutomationCore;
	ready: Promise<void>;
	markReady: () => void;
	tick: NodeJS.Timeout | null;
	resolveRefs(ctx: Ctx, refs: DeviceRef[]): Promise<number[]>;
	requireDevice(ctx: Ctx, id: number): Promise<void>;
	getRule(ctx: Ctx, id: number): Promise<RuleApi>;
	getScheduleRow(ctx: Ctx, id: number): Promise<Row>;
	getCommandRow(ctx: Ctx, id: number): Promise<Row>;
	configChanged(kind: "rule" | "schedule", id: number): Promise<void>;
};

const id = { type: "number", integer: true, positive: true, convert: true } as const;
/** The route's `:id`. */
type IdParams = { id: number };
/** A JSON body the handler checks itself (./validate.ts: 422 naming the field, the value and what is allowed). */
type BodyParams = Record<string, unknown>;
const listParams = {
	limit: { type: "number", integer: true, min: 1, max: 500, convert: true, optional: true },
	cursor: { type: "string", max: 100, optional: true }
} as const;
type ListParams = { limit?: number; cursor?: string };
/** A device by id or by name (mixins/refs.ts). */
type DeviceRefParam = number | string;

const listRulesParams = {
	$$strict: true,
	device: refParam(),
	enabled: { type: "boolean", convert: true, optional: true },
	...listParams
} as const;
type ListRulesParams = ListParams & { device?: DeviceRefParam; enabled?: boolean };
const historyParams = {
	$$strict: true,
	rule: { ...id, optional: true },
	schedule: { ...id, optional: true },
	device: refParam(),
	source: { type: "enum", values: ["rule", "schedule", "manual"], optional: true },
	status: { type: "string", max: 20, optional: true },
	from: { type: "string", max: 64, optional: true },
	to: { type: "string", max: 64, optional: true },
	...listParams
} as const;
type HistoryParams = ListParams & {
	rule?: number;
	schedule?: number;
	device?: DeviceRefParam;
	source?: RunSource;
	status?: string;
	from?: string;
	to?: string;
};

/**
 * An action on one record by the route's `:id`, for signed-in users; the id is checked and
 * converted. `answer`: the schema of what it answers (published in the OpenAPI document).
 */
function byId<P extends IdParams = IdParams>(
	rest: string,
	answer: TSchema | undefined,
	handler: (this: This, ctx: Ctx<P>) => unknown
) {
	return { rest, auth: "user" as const, params: { id }, ...(answer ? { answer } : {}), handler };
}

const who = (ctx: Ctx) => callerOf(ctx)?.email ?? null;
/** Idempotency keys are unique per caller: a user, or the mesh itself. */
const callerKey = (ctx: Ctx) => {
	const c = callerOf(ctx);
	return c ? `user:${c.id}` : "system";
};
const bodyOf = (ctx: Ctx<BodyParams>) => {
	const { id: _id, ...rest } = ctx.params;
	return rest;
};

function page<T extends { id: number }>(items: T[], limit: number) {
	const more = items.length > limit;
	const list = more ? items.slice(0, limit) : items;
	return { items: list, nextCursor: more ? encodeCursor(list[list.length - 1].id) : null };
}

function ruleRow(r: RuleDef, deviceIds: number[]) {
	return [
		r.name,
		r.enabled,
		r.mode,
		JSON.stringify(r.trigger),
		JSON.stringify(r.conditions),
		JSON.stringify(r.actions),
		r.maxRunsPerHour,
		deviceIds
	];
}

function scheduleRow(s: ScheduleDef, deviceIds: number[]) {
	return [
		s.name,
		s.enabled,
		s.cron,
		s.intervalMs,
		s.timezone,
		s.startAt == null ? null : new Date(s.startAt),
		s.endAt == null ? null : new Date(s.endAt),
		s.misfire,
		s.mode,
		JSON.stringify(s.actions),
		deviceIds
	];
}

/**
 * The run a manual command is tracked in (history shows it with the command as its one step),
 * linked to the command; returns the run's id.
 */
async function insertManualRun(tx: Sql, deviceId: number, commandId: number, by: string | null): Promise<number> {
	const [run] = await tx.query(
		`INSERT INTO automation_runs (source, device_id, status, trigger, trace, device_ids, created_by)
		 VALUES ('manual', $1, 'running', $2, $3, $4, $5) RETURNING id`,
		[
			deviceId,
			JSON.stringify({ type: "manual", by }),
			JSON.stringify([
				{
					at: new Date().toISOString(),
					path: "actions[0]",
					step: "command",
					ok: true,
					detail: { commandId, status: "queued" }
				}
			]),
			[deviceId],
			by
		]
	);
	await tx.query("UPDATE automation_commands SET run_id = $2 WHERE id = $1", [commandId, run.id]);
	return run.id;
}

/** First occurrence after now (intervals anchored at startAt ?? createdAt). */
function firstRun(s: ScheduleDef, createdAt: number, t = Date.now()): Date | null {
	const n = nextAfter(
		{
			cron: s.cron,
			intervalMs: s.intervalMs,
			timezone: s.timezone,
			startAt: s.startAt,
			endAt: s.endAt,
			anchor: s.startAt ?? createdAt
		},
		t
	);
	return n == null ? null : new Date(n);
}

const AutomationService = defineService<This>({
	name: "automation",
	mixins: [DbMixin],
	settings: { rest: "/automation" },

	channels: {
		[CHANNELS.telemetryReadings]: {
			group: AUTOMATION_READINGS_GROUP,
			async handler(this: This, payload: unknown) {
				await this.ready;
				let list: unknown[];
				try {
					list = readingsOf(payload);
				} catch {
					return; // not a telemetry batch: the pipeline sink dead-letters it
				}
				// The channel's one reading check (contracts/readings.ts); what passes has its ts in epoch ms.
				await this.core.processReadings(checkReadings(list).accepted);
			}
		}
	},

	events: {
		async [EVENTS.deviceStatus](this: This, ctx: Context<DeviceStatusEvent>) {
			const s = ctx.params;
			if (!s || !Number.isInteger(s.deviceId) || typeof s.status !== "string") return;
			await this.ready;
			const ts = Date.parse(s.at);
			await this.core.processStatus(s.deviceId, s.status, Number.isFinite(ts) ? ts : Date.now());
		},
		async [AUTOMATION_EVENTS.configChanged](this: This, ctx: Context<ConfigChangedEvent>) {
			await this.ready;
			// The instance that made the change has reloaded already (before answering).
			if (ctx.params?.origin === this.core.d.owner) return;
			await this.core.reloadRules();
		}
	},

	actions: {
		/** Rules the caller may see, newest first; `device` narrows to the rules that read or command it. */
		listRules: {
			rest: "GET /rules",
			auth: "user",
			answer: pageOf(RuleApi),
			params: listRulesParams,
			async handler(this: This, ctx: Ctx<ListRulesParams>) {
				const p = ctx.params;
				const limit = p.limit ?? 50;
				const params: unknown[] = [];
				const where = [visibleArraySql(ctx, "device_ids", params)];
				const device = await resolveDevice(this.db, p.device, callerOf(ctx));
				if (device != null) where.push(`$${params.push(device)} = ANY(device_ids)`);
				if (p.enabled != null) where.push(`enabled = $${params.push(p.enabled)}`);
				const cursor = decodeCursor(p.cursor);
				if (cursor) where.push(`id < $${params.push(cursor)}`);
				return page(
					await loadRulesWithState(
						this.db,
						where.join(" AND "),
						params,
						`ORDER BY id DESC LIMIT ${limit + 1}`
					),
					limit
				);
			}
		},

		createRule: {
			rest: "POST /rules",
			auth: "user",
			answer: RuleApi,
			async handler(this: This, ctx: Ctx<BodyParams>) {
				const { rule, refs } = validateRule(bodyOf(ctx));
				const deviceIds = await this.resolveRefs(ctx, refs);
				const [row] = await this.db.query(
					`INSERT INTO automation_rules (name, enabled, mode, trigger, conditions, actions,
					 max_runs_per_hour, device_ids, created_by)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
					[...ruleRow(rule, deviceIds), who(ctx)]
				);
				await this.configChanged("rule", Number(row.id));
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/automation/rules/${row.id}`;
				return this.getRule(ctx, Number(row.id));
			}
		},

		getRule: byId("GET /rules/:id", RuleApi, function (ctx) {
			return this.getRule(ctx, ctx.params.id);
		}),

		/** Any writable fields; the state is re-armed when the trigger changed or the rule is enabled again. */
		updateRule: byId<IdParams & BodyParams>("PUT /rules/:id", RuleApi, async function (ctx) {
			const old = await this.getRule(ctx, ctx.params.id);
			const { rule, refs } = validateRule({ ...old, ...bodyOf(ctx) });
			const deviceIds = await this.resolveRefs(ctx, refs);
			const rearm =
				JSON.stringify(rule.trigger) !== JSON.stringify(old.trigger) ||
				(rule.enabled && !old.enabled) ||
				!rule.enabled;
			await this.db.transaction(async tx => {
				await tx.query(
					`UPDATE automation_rules SET name = $2, enabled = $3, mode = $4, trigger = $5,
					 conditions = $6, actions = $7, max_runs_per_hour = $8, device_ids = $9,
					 disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END,
					 suppressed_streak = CASE WHEN $3 AND NOT enabled THEN 0 ELSE suppressed_streak END,
					 updated_at = now() WHERE id = $1`,
					[old.id, ...ruleRow(rule, deviceIds)]
				);
				if (rearm) {
					await tx.query("DELETE FROM automation_rule_state WHERE rule_id = $1", [old.id]);
					await tx.query("DELETE FROM automation_timers WHERE kind = 'for' AND rule_id = $1", [old.id]);
				}
			});
			await this.configChanged("rule", old.id);
			return this.getRule(ctx, old.id);
		}),

		deleteRule: byId("DELETE /rules/:id", Deleted, async function (ctx) {
			const rule = await this.getRule(ctx, ctx.params.id);
			await this.db.transaction(async tx => {
				await tx.query("DELETE FROM automation_timers WHERE kind = 'for' AND rule_id = $1", [rule.id]);
				await tx.query("DELETE FROM automation_rules WHERE id = $1", [rule.id]);
			});
			await this.configChanged("rule", rule.id);
			return { id: rule.id, deleted: true };
		}),

		simulateRule: byId<IdParams & BodyParams>("POST /rules/:id/simulate", undefined, async function (ctx) {
			const rule = await this.getRule(ctx, ctx.params.id);
			const { from, to } = validateSimulate(bodyOf(ctx));
			return {
				from: new Date(from).toISOString(),
				to: new Date(to).toISOString(),
				runs: await simulateRule(this.db, rule, from, to)
			};
		}),

		listSchedules: {
			rest: "GET /schedules",
			auth: "user",
			answer: pageOf(ScheduleApi),
			params: { $$strict: true, ...listParams },
			async handler(this: This, ctx: Ctx<ListParams>) {
				const limit = ctx.params.limit ?? 50;
				const params: unknown[] = [];
				const where = [visibleArraySql(ctx, "device_ids", params)];
				const cursor = decodeCursor(ctx.params.cursor);
				if (cursor) where.push(`id < $${params.push(cursor)}`);
				const rows = await this.db.query(
					`SELECT * FROM automation_schedules WHERE ${where.join(" AND ")} ORDER BY id DESC ` +
						`LIMIT ${limit + 1}`,
					params
				);
				return page(rows.map(scheduleToApi), limit);
			}
		},

		createSchedule: {
			rest: "POST /schedules",
			auth: "user",
			answer: ScheduleApi,
			async handler(this: This, ctx: Ctx<BodyParams>) {
				const { schedule, refs } = validateSchedule(bodyOf(ctx));
				const deviceIds = await this.resolveRefs(ctx, refs);
				const createdAt = Date.now();
				const [row] = await this.db.query(
					`INSERT INTO automation_schedules (name, enabled, cron, interval_ms, timezone, start_at, end_at,
					 misfire, mode, actions, device_ids, created_by, created_at, next_run_at)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
					[...scheduleRow(schedule, deviceIds), who(ctx), new Date(createdAt), firstRun(schedule, createdAt)]
				);
				await this.configChanged("schedule", Number(row.id));
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/automation/schedules/${row.id}`;
				return scheduleToApi(row);
			}
		},

		/** Next occurrences of a cron (with its time zone) or an interval, without storing anything. */
		previewSchedule: {
			rest: "POST /schedules/preview",
			auth: "user",
			handler(this: This, ctx: Ctx<BodyParams>) {
				const p = validatePreview(bodyOf(ctx));
				const runs = preview(
					{ ...p.timing, startAt: p.startAt, endAt: p.endAt, anchor: p.startAt ?? p.from },
					p.from,
					p.count
				);
				return { runs: runs.map(t => new Date(t).toISOString()) };
			}
		},

		getSchedule: byId("GET /schedules/:id", ScheduleApi, async function (ctx) {
			return scheduleToApi(await this.getScheduleRow(ctx, ctx.params.id));
		}),

		updateSchedule: byId<IdParams & BodyParams>("PUT /schedules/:id", ScheduleApi, async function (ctx) {
			const oldRow = await this.getScheduleRow(ctx, ctx.params.id);
			const old = scheduleToApi(oldRow);
			const body = bodyOf(ctx);
			// Switching between cron and interval: the new one replaces the old.
			const merged: Record<string, unknown> = { ...old, ...body };
			if (body.cron != null && body.interval === undefined) merged.interval = null;
			if (body.interval != null && body.cron === undefined) merged.cron = null;
			const { schedule, refs } = validateSchedule(merged);
			const deviceIds = await this.resolveRefs(ctx, refs);
			const timingChanged =
				schedule.cron !== old.cron ||
				schedule.interval !== old.interval ||
				schedule.timezone !== old.timezone ||
				schedule.startAt !== ms(oldRow.start_at) ||
				schedule.endAt !== ms(oldRow.end_at) ||
				(schedule.enabled && !old.enabled);
			const next = timingChanged ? firstRun(schedule, ms(oldRow.created_at)!) : oldRow.next_run_at;
			const [row] = await this.db.query(
				`UPDATE automation_schedules SET name = $2, enabled = $3, cron = $4, interval_ms = $5,
				 timezone = $6, start_at = $7, end_at = $8, misfire = $9, mode = $10, actions = $11,
				 device_ids = $12, next_run_at = $13, updated_at = now() WHERE id = $1 RETURNING *`,
				[old.id, ...scheduleRow(schedule, deviceIds), next]
			);
			await this.configChanged("schedule", old.id);
			return scheduleToApi(row);
		}),

		deleteSchedule: byId("DELETE /schedules/:id", Deleted, async function (ctx) {
			const row = await this.getScheduleRow(ctx, ctx.params.id);
			await this.db.query("DELETE FROM automation_schedules WHERE id = $1", [row.id]);
			await this.configChanged("schedule", Number(row.id));
			return { id: Number(row.id), deleted: true };
		}),

		/**
		 * A manual command: queued in the outbox, sent at once when the device streams; idempotent per caller and key.
		 */
		command: byId<IdParams & BodyParams>("POST /devices/:id/command", CommandApi, async function (ctx) {
			const deviceId = ctx.params.id;
			await this.requireDevice(ctx, deviceId);
			const body = validateCommand(bodyOf(ctx));
			const caller = callerKey(ctx);
			const result = await this.db.transaction(async tx => {
				const c = await this.core.ensureCommand(
					{
						deviceId,
						action: body.action,
						params: body.params as Record<string, unknown>,
						ttl: body.ttl,
						ttlMs: body.ttlMs,
						caller,
						idempotencyKey: body.idempotencyKey,
						source: "manual",
						runId: null,
						createdBy: who(ctx)
					},
					tx
				);
				if (!c.created) return c;
				c.row.run_id = await insertManualRun(tx, deviceId, Number(c.row.id), who(ctx));
				return c;
			});
			if (!result.created) {
				if (result.row.body_hash !== result.bodyKey)
					throw new ConflictError(`idempotencyKey '${body.idempotencyKey}' was used for another command`, {
						field: "idempotencyKey",
						commandId: Number(result.row.id)
					});
				return { ...commandToApi(result.row), duplicate: true };
			}
			const commandId = Number(result.row.id);
			// The run of a manual command ends with its command (./core, on the final status).
			const delivery = this.core.deliver(commandId);
			this.core.track(delivery);
			if (body.wait > 0) await Promise.race([delivery, new Promise(r => setTimeout(r, body.wait))]);
			const [row] = await this.db.query("SELECT * FROM automation_commands WHERE id = $1", [commandId]);
			const cmd = commandToApi(row);
			const ended = !["queued", "sending"].includes(cmd.status);
			ctx.meta.$statusCode = body.wait > 0 && ended ? 200 : 202;
			return cmd;
		}),

		getCommand: byId("GET /commands/:id", CommandApi, async function (ctx) {
			return commandToApi(await this.getCommandRow(ctx, ctx.params.id));
		}),

		cancelCommand: byId("DELETE /commands/:id", CommandApi, async function (ctx) {
			const row = await this.getCommandRow(ctx, ctx.params.id);
			const cancelled = await this.core.cancel(Number(row.id));
			if (!cancelled)
				throw new ConflictError(`command ${row.id} is ${row.status}: only a queued command can be cancelled`, {
					status: row.status
				});
			return commandToApi(cancelled);
		}),

		deviceState: byId("GET /devices/:id/state", DeviceStateApi, async function (ctx) {
			await this.requireDevice(ctx, ctx.params.id);
			return this.core.deviceState(ctx.params.id);
		}),

		history: {
			rest: "GET /history",
			auth: "user",
			answer: pageOf(HistoryEntry),
			params: historyParams,
			async handler(this: This, ctx: Ctx<HistoryParams>) {
				const p = ctx.params;
				const limit = p.limit ?? 50;
				const params: unknown[] = [];
				const where = [visibleArraySql(ctx, "r.device_ids", params)];
				if (p.rule) where.push(`r.rule_id = $${params.push(p.rule)}`);
				if (p.schedule) where.push(`r.schedule_id = $${params.push(p.schedule)}`);
				const device = await resolveDevice(this.db, p.device, callerOf(ctx));
				if (device != null)
					where.push(
						`(r.device_id = $${params.push(device)} OR EXISTS (SELECT 1 FROM ` +
							`automation_commands c WHERE c.run_id = r.id AND c.device_id = $${params.length}))`
					);
				if (p.source) where.push(`r.source = $${params.push(p.source)}`);
				if (p.status) where.push(`r.status = $${params.push(p.status)}`);
				const from = parseTime(p.from, "from");
				const to = parseTime(p.to, "to");
				if (from != null) where.push(`r.started_at >= $${params.push(new Date(from))}`);
				if (to != null) where.push(`r.started_at <= $${params.push(new Date(to))}`);
				const cursor = decodeCursor(p.cursor);
				if (cursor) where.push(`r.id < $${params.push(cursor)}`);
				return page(
					await loadRuns(this.db, where.join(" AND "), params, `ORDER BY r.id DESC LIMIT ${limit + 1}`),
					limit
				);
			}
		},

		historyEntry: byId("GET /history/:id", HistoryEntry, async function (ctx) {
			const params: unknown[] = [ctx.params.id];
			const [entry] = await loadRuns(
				this.db,
				`r.id = $1 AND ${visibleArraySql(ctx, "r.device_ids", params)}`,
				params
			);
			if (!entry) throw new NotFoundError("History entry", ctx.params.id);
			return entry;
		}),

		/** Counters of this instance (benchmarks, diagnostics); not routed. */
		stats: {
			visibility: "public",
			handler(this: This) {
				return { ...this.core.counters, rules: this.core.rules.size };
			}
		}
	},

	methods: {
		/**
		 * Every referenced device must be visible to the caller (422 on its path otherwise); datapoints resolved to id
		 * and label.
		 */
		async resolveRefs(this: This, ctx: Ctx, refs: DeviceRef[]): Promise<number[]> {
			const visible = await visibleDevices(
				this.db,
				ctx,
				refs.map(r => r.deviceId)
			);
			for (const ref of refs) {
				if (!visible.has(ref.deviceId)) fail(ref.field, `unknown device ${ref.deviceId}`);
				if (!ref.datapoint) continue;
				const v = ref.datapoint.value;
				const [dp] = await this.db.query(
					"SELECT id, label FROM datapoints WHERE device_id = $1 AND (id = $2 OR label = $3)",
					[ref.deviceId, typeof v === "number" ? v : -1, String(v)]
				);
				if (!dp) fail(ref.datapoint.field, `device ${ref.deviceId} has no datapoint ${JSON.stringify(v)}`);
				ref.datapoint.target.datapoint = dp.label;
				ref.datapoint.target.datapointId = Number(dp.id);
			}
			return [...new Set(refs.map(r => r.deviceId))].sort((a, b) => a - b);
		},

		async requireDevice(this: This, ctx: Ctx, deviceId: number) {
			if (!(await visibleDevices(this.db, ctx, [deviceId])).size) throw new NotFoundError("Device", deviceId);
		},

		async getRule(this: This, ctx: Ctx, ruleId: number): Promise<RuleApi> {
			const params: unknown[] = [ruleId];
			const [rule] = await loadRulesWithState(
				this.db,
				`id = $1 AND ${visibleArraySql(ctx, "device_ids", params)}`,
				params
			);
			if (!rule) throw new NotFoundError("Rule", ruleId);
			return rule;
		},

		async getScheduleRow(this: This, ctx: Ctx, scheduleId: number) {
			const params: unknown[] = [scheduleId];
			const [row] = await this.db.query(
				`SELECT * FROM automation_schedules WHERE id = $1 AND ${visibleArraySql(ctx, "device_ids", params)}`,
				params
			);
			if (!row) throw new NotFoundError("Schedule", scheduleId);
			return row;
		},

		/** A command on a device the caller may see (404 otherwise, as for an unknown id). */
		async getCommandRow(this: This, ctx: Ctx, commandId: number) {
			const [row] = await this.db.query("SELECT * FROM automation_commands WHERE id = $1", [commandId]);
			if (!row || !(await visibleDevices(this.db, ctx, [Number(row.device_id)])).size)
				throw new NotFoundError("Command", commandId);
			return row;
		},

		async configChanged(this: This, kind: "rule" | "schedule", changedId: number) {
			const ev: ConfigChangedEvent = { kind, id: changedId, origin: this.core.d.owner };
			// broadcast: every other instance reloads; this one reloads below, before answering.
			this.broker.broadcast(AUTOMATION_EVENTS.configChanged, ev);
			if (kind === "rule") await this.core.reloadRules();
			else this.core.wake(Date.now());
		}
	},

	created(this: This) {
		this.ready = new Promise<void>(r => (this.markReady = r));
		this.tick = null;
	},

	async started(this: This) {
		const env = fleetEnv(this.broker);
		this.core = new AutomationCore({
			db: this.db,
			owner: `${this.broker.nodeID}:${crypto.randomBytes(4).toString("hex")}`,
			tickMs: env.automationTickMs,
			leaseMs: env.automationLeaseMs,
			loopWindowMs: env.automationLoopWindowMs,
			maxDepth: env.automationMaxDepth,
			historyDays: env.automationHistoryDays,
			requestTimeoutMs: env.requestTimeoutMs,
			send: (nodeID, action, deviceId, params, timeout) =>
				this.broker.call(
					action === "write" ? "processor.write" : "processor.close",
					{ ...params, deviceId },
					{ nodeID, retries: 0, timeout }
				),
			emit: (event, payload) => void this.broker.emit(event, payload),
			broadcast: (event, payload) => void this.broker.broadcast(event, payload),
			// broadcast, not emit: every gateway node relays to its own sockets.
			push: (messages: LiveMessage[]) => void this.broker.broadcast(LIVE_PUSH_EVENT, { messages }),
			log: this.logger
		});
		await this.core.reloadRules();
		this.markReady();
		this.logger.info(
			`automation: ready (${this.core.rules.size} enabled rules, sweep every ${env.automationTickMs} ms)`
		);
		const tick = () => this.core.track(this.core.sweep());
		this.tick = setInterval(tick, env.automationTickMs);
		tick();
	},

	async stopped(this: This) {
		if (this.tick) clearInterval(this.tick);
		await this.core?.stop();
	}
});

export default AutomationService;
