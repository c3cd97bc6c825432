/**
 * Automation contract (rules, schedules, device commands, history): event names, payload and
 * API shapes, and the duration syntax every part of it uses. The automation service implements
 * it; the dashboard and other services read these types.
 */

import { DeviceWrite } from "./devices";
import { Closed, Id, IsoTime, Nullable, Type, type Static } from "./schema";

export const AUTOMATION_EVENTS = {
	/** emitted: one run of a rule, a schedule or a manual command ended. */
	runFinished: "automation.run.finished",
	/** emitted: a command changed status. */
	commandChanged: "automation.command.changed",
	/** broadcast: a rule or schedule changed; every automation instance reloads it. */
	configChanged: "automation.config.changed"
} as const;

/** Consumer group of the automation service on `telemetry.readings`. */
export const AUTOMATION_READINGS_GROUP = "automation";

/** Live events pushed to the `device:<id>` room (through `live.push`). */
export const AUTOMATION_LIVE = { command: "device.command", state: "device.state" } as const;

export const RULE_MODES = ["single", "restart", "queued", "parallel"] as const;
export type RuleMode = (typeof RULE_MODES)[number];
export const MISFIRE_POLICIES = ["run_once", "skip"] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];
export const COMMAND_ACTIONS = ["write", "close"] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];
export const COMMAND_STATUSES = ["queued", "sending", "succeeded", "failed", "expired", "cancelled"] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];
export const RUN_STATUSES = [
	"running",
	"waiting",
	"succeeded",
	"failed",
	"partial",
	"skipped",
	"suppressed",
	"missed",
	"cancelled",
	"simulated"
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const Str = () => Type.String();
const Int = () => Type.Integer();
const Literals = <T extends readonly string[]>(values: T) => Type.Unsafe<T[number]>({ type: "string", enum: values });

/** A write command's params: what `processor.write` takes besides the device. */
export const WriteParams = DeviceWrite;
export type WriteParams = DeviceWrite;

export const Action = Type.Union([
	Closed({
		type: Type.Literal("command"),
		deviceId: Id(),
		action: Literals(COMMAND_ACTIONS),
		params: WriteParams,
		ttl: Str()
	}),
	Closed({ type: Type.Literal("delay"), for: Str() })
]);
export type Action = Static<typeof Action>;

/** What a reading trigger and a reading condition both name: the datapoint and its bounds. */
const readingBounds = {
	deviceId: Id(),
	datapoint: Str(),
	datapointId: Id(),
	above: Nullable(Type.Number()),
	below: Nullable(Type.Number())
};

export const Trigger = Type.Union([
	Closed({ type: Type.Literal("reading"), ...readingBounds, hysteresis: Type.Number(), for: Str() }),
	Closed({ type: Type.Literal("device_status"), deviceId: Id(), to: Str(), for: Str() })
]);
export type Trigger = Static<typeof Trigger>;

export const Condition = Type.Union([
	Closed({ type: Type.Literal("reading"), ...readingBounds, maxAge: Nullable(Str()) }),
	Closed({
		type: Type.Literal("time"),
		after: Nullable(Str()),
		before: Nullable(Str()),
		weekdays: Nullable(Type.Array(Literals(WEEKDAYS))),
		timezone: Str()
	})
]);
export type Condition = Static<typeof Condition>;

export const RuleStateApi = Closed({
	deviceId: Id(),
	armed: Type.Boolean(),
	pendingSince: Nullable(IsoTime()),
	lastFiredAt: Nullable(IsoTime())
});
export type RuleStateApi = Static<typeof RuleStateApi>;

const ruleDefFields = {
	name: Str(),
	enabled: Type.Boolean(),
	mode: Literals(RULE_MODES),
	trigger: Trigger,
	conditions: Type.Array(Condition),
	actions: Type.Array(Action),
	maxRunsPerHour: Int()
};
/** A rule as a client writes it (the body of a create or update, defaults filled in). */
export const RuleDef = Closed(ruleDefFields);
export type RuleDef = Static<typeof RuleDef>;

/** A rule as the API answers it: what was written, plus what the service keeps. */
export const RuleApi = Closed({
	id: Id(),
	...ruleDefFields,
	state: Type.Array(RuleStateApi),
	disabledReason: Nullable(Literals(["loop", "rate_limit"] as const)),
	createdBy: Nullable(Str()),
	createdAt: IsoTime(),
	updatedAt: IsoTime()
});
export type RuleApi = Static<typeof RuleApi>;

export const ScheduleApi = Closed({
	id: Id(),
	name: Str(),
	enabled: Type.Boolean(),
	cron: Nullable(Str()),
	interval: Nullable(Str()),
	timezone: Str(),
	startAt: Nullable(IsoTime()),
	endAt: Nullable(IsoTime()),
	misfire: Literals(MISFIRE_POLICIES),
	mode: Literals(RULE_MODES),
	actions: Type.Array(Action),
	nextRunAt: Nullable(IsoTime()),
	lastRunAt: Nullable(IsoTime()),
	createdBy: Nullable(Str()),
	createdAt: IsoTime(),
	updatedAt: IsoTime()
});
export type ScheduleApi = Static<typeof ScheduleApi>;

const RunSourceSchema = Literals(["rule", "schedule", "manual"] as const);
export type RunSource = Static<typeof RunSourceSchema>;

export const CommandApi = Closed({
	id: Id(),
	deviceId: Id(),
	action: Literals(COMMAND_ACTIONS),
	params: WriteParams,
	status: Literals(COMMAND_STATUSES),
	idempotencyKey: Nullable(Str()),
	ttl: Str(),
	expiresAt: IsoTime(),
	attempts: Type.Integer({ minimum: 0 }),
	lastAttemptAt: Nullable(IsoTime()),
	nodeID: Nullable(Str()),
	error: Nullable(Type.Object({ type: Str(), message: Str() })),
	runId: Nullable(Id()),
	source: RunSourceSchema,
	createdBy: Nullable(Str()),
	createdAt: IsoTime(),
	updatedAt: IsoTime(),
	finishedAt: Nullable(IsoTime()),
	duplicate: Type.Optional(Type.Boolean())
});
export type CommandApi = Static<typeof CommandApi>;

export const TraceStep = Closed({
	at: IsoTime(),
	path: Str(),
	step: Str(),
	ok: Type.Boolean(),
	detail: Type.Optional(Type.Record(Str(), Type.Unknown()))
});
export type TraceStep = Static<typeof TraceStep>;

export const CausedBy = Closed({ runId: Id(), commandId: Id(), ruleId: Nullable(Id()), depth: Int() });
export type CausedBy = Static<typeof CausedBy>;

export const HistoryEntry = Closed({
	id: Id(),
	source: RunSourceSchema,
	ruleId: Nullable(Id()),
	scheduleId: Nullable(Id()),
	deviceId: Nullable(Id()),
	status: Literals(RUN_STATUSES),
	scheduledFor: Nullable(IsoTime()),
	misfired: Type.Boolean(),
	startedAt: IsoTime(),
	finishedAt: Nullable(IsoTime()),
	trigger: Nullable(Type.Record(Str(), Type.Unknown())),
	commands: Type.Array(Type.Partial(CommandApi)),
	trace: Type.Array(TraceStep),
	causedBy: Nullable(CausedBy)
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const DeviceStateApi = Closed({
	deviceId: Id(),
	status: Nullable(Str()),
	nodeID: Nullable(Str()),
	pendingCommands: Type.Integer({ minimum: 0 }),
	lastCommand: Nullable(CommandApi),
	desired: Type.Record(Str(), Type.Union([Type.Number(), Str()])),
	updatedAt: Nullable(IsoTime())
});
export type DeviceStateApi = Static<typeof DeviceStateApi>;

export interface RunFinishedEvent {
	runId: number;
	source: RunSource;
	ruleId: number | null;
	scheduleId: number | null;
	status: RunStatus;
	at: string;
}

export interface CommandChangedEvent {
	commandId: number;
	deviceId: number;
	runId: number | null;
	status: CommandStatus;
	at: string;
}

export interface ConfigChangedEvent {
	kind: "rule" | "schedule";
	id: number;
	/** The instance that made the change (it has reloaded already). */
	origin?: string;
}

// ---- durations ---------------------------------------------------------------------------

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "500ms", "10s", "5m", "1h30m", "2d", or a number of seconds → milliseconds; null when it is
 * not a duration.
 */
export function parseDuration(input: unknown): number | null {
	if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? Math.round(input * 1000) : null;
	if (typeof input !== "string") return null;
	const s = input.trim();
	if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
	if (!/^(\d+(ms|s|m|h|d))+$/.test(s)) return null;
	let total = 0;
	for (const m of s.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT_MS[m[2]];
	return total;
}

/** Milliseconds → the normalised duration string ("1h30m", "500ms", "0s"). */
export function formatDuration(ms: number): string {
	if (ms <= 0) return "0s";
	let rest = Math.round(ms);
	let out = "";
	for (const [unit, size] of [
		["d", 86_400_000],
		["h", 3_600_000],
		["m", 60_000],
		["s", 1000],
		["ms", 1]
	] as const) {
		if (rest >= size) {
			out += `${Math.floor(rest / size)}${unit}`;
			rest %= size;
		}
	}
	return out;
}
