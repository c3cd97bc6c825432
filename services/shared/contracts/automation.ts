/**
 * Automation contract (rules, schedules, device commands, history): event names, payload and
 * API shapes, and the duration syntax every part of it uses. The automation service implements
 * it; the dashboard and other services read these types.
 */

import type { DeviceWrite } from "./devices";

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
export type RunSource = "rule" | "schedule" | "manual";
export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A write command's params: what `processor.write` takes besides the device. */
export type WriteParams = DeviceWrite;

export type Action =
	| { type: "command"; deviceId: number; action: CommandAction; params: WriteParams; ttl: string }
	| { type: "delay"; for: string };

export type Trigger =
	| {
			type: "reading";
			deviceId: number;
			datapoint: string;
			datapointId: number;
			above: number | null;
			below: number | null;
			hysteresis: number;
			for: string;
	  }
	| { type: "device_status"; deviceId: number; to: string; for: string };

export type Condition =
	| {
			type: "reading";
			deviceId: number;
			datapoint: string;
			datapointId: number;
			above: number | null;
			below: number | null;
			maxAge: string | null;
	  }
	| { type: "time"; after: string | null; before: string | null; weekdays: Weekday[] | null; timezone: string };

export interface RuleStateApi {
	deviceId: number;
	armed: boolean;
	pendingSince: string | null;
	lastFiredAt: string | null;
}

/** A rule as a client writes it (the body of a create or update, defaults filled in). */
export interface RuleDef {
	name: string;
	enabled: boolean;
	mode: RuleMode;
	trigger: Trigger;
	conditions: Condition[];
	actions: Action[];
	maxRunsPerHour: number;
}

/** A rule as the API answers it: what was written, plus what the service keeps. */
export interface RuleApi extends RuleDef {
	id: number;
	state: RuleStateApi[];
	disabledReason: "loop" | "rate_limit" | null;
	createdBy: string | null;
	createdAt: string;
	updatedAt: string;
}

export interface ScheduleApi {
	id: number;
	name: string;
	enabled: boolean;
	cron: string | null;
	interval: string | null;
	timezone: string;
	startAt: string | null;
	endAt: string | null;
	misfire: MisfirePolicy;
	mode: RuleMode;
	actions: Action[];
	nextRunAt: string | null;
	lastRunAt: string | null;
	createdBy: string | null;
	createdAt: string;
	updatedAt: string;
}

export interface CommandApi {
	id: number;
	deviceId: number;
	action: CommandAction;
	params: WriteParams;
	status: CommandStatus;
	idempotencyKey: string | null;
	ttl: string;
	expiresAt: string;
	attempts: number;
	lastAttemptAt: string | null;
	nodeID: string | null;
	error: { type: string; message: string } | null;
	runId: number | null;
	source: RunSource;
	createdBy: string | null;
	createdAt: string;
	updatedAt: string;
	finishedAt: string | null;
	duplicate?: boolean;
}

export interface TraceStep {
	at: string;
	path: string;
	step: string;
	ok: boolean;
	detail?: Record<string, unknown>;
}

export interface CausedBy {
	runId: number;
	commandId: number;
	ruleId: number | null;
	depth: number;
}

export interface HistoryEntry {
	id: number;
	source: RunSource;
	ruleId: number | null;
	scheduleId: number | null;
	deviceId: number | null;
	status: RunStatus;
	scheduledFor: string | null;
	misfired: boolean;
	startedAt: string;
	finishedAt: string | null;
	trigger: Record<string, unknown> | null;
	commands: Partial<CommandApi>[];
	trace: TraceStep[];
	causedBy: CausedBy | null;
}

export interface DeviceStateApi {
	deviceId: number;
	status: string | null;
	nodeID: string | null;
	pendingCommands: number;
	lastCommand: CommandApi | null;
	desired: Record<string, number | string>;
	updatedAt: string | null;
}

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
