/**
 * Validation of rule, schedule, command and preview bodies, pure. Every problem is a 422 whose
 * `data.field` is the path of the bad field (`actions[0].deviceId`). Device and datapoint
 * references are returned as a list for the service to resolve against the registry (unknown or
 * not the caller's → 422 on the same path).
 */
import type {
	Action,
	CommandAction,
	Condition,
	MisfirePolicy,
	RuleDef,
	RuleMode,
	Trigger,
	Weekday,
	WriteParams
} from "../shared/contracts/automation";
import {
	COMMAND_ACTIONS,
	MISFIRE_POLICIES,
	RULE_MODES,
	WEEKDAYS,
	formatDuration,
	parseDuration
} from "../shared/contracts/automation";
import { DEVICE_STATUSES } from "../shared/contracts";
import { UnprocessableError } from "../shared/errors";
import { checkCron } from "./planner";
import { errorMessage } from "../shared/error-message";

const DAY_MS = 86_400_000;
const MAX_FOR_MS = 7 * DAY_MS;

export function fail(field: string, message: string): never {
	throw new UnprocessableError(`${field}: ${message}`, { field });
}

/** A device (and optionally datapoint) the body refers to, with the path to blame. */
export interface DeviceRef {
	field: string;
	deviceId: number;
	/** For triggers and conditions: the datapoint label or id, resolved in place by the service. */
	datapoint?: { field: string; value: string | number; target: { datapoint: string; datapointId: number } };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

function obj(v: unknown, field: string): Obj {
	if (!isObj(v)) fail(field, "must be an object");
	return v;
}

function posInt(v: unknown, field: string): number {
	const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
	if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) fail(field, "must be a positive integer id");
	return n;
}

function intIn(v: unknown, field: string, min: number, max: number): number {
	if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
		fail(field, `must be an integer ${min}–${max}`);
	return v;
}

function numOrNull(v: unknown, field: string): number | null {
	if (v == null) return null;
	if (typeof v !== "number" || !Number.isFinite(v)) fail(field, "must be a number or null");
	return v;
}

function str(v: unknown, field: string, max: number, min = 1): string {
	if (typeof v !== "string" || v.length < min || v.length > max)
		fail(field, `must be a string of ${min}–${max} characters`);
	return v;
}

function bool(v: unknown, field: string): boolean {
	if (typeof v !== "boolean") fail(field, "must be true or false");
	return v;
}

function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
	if (typeof v !== "string" || !values.includes(v as T)) fail(field, `must be one of ${values.join(", ")}`);
	return v as T;
}

/** A duration within bounds, normalised ("90s" → "1m30s"). */
export function duration(v: unknown, field: string, minMs: number, maxMs: number): { ms: number; text: string } {
	const ms = parseDuration(v);
	if (ms == null)
		fail(field, `'${String(v)}' is not a duration (e.g. "500ms", "10s", "5m", "1h30m", "2d" or seconds)`);
	if (ms < minMs || ms > maxMs) fail(field, `must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}`);
	return { ms, text: formatDuration(ms) };
}

export function timezone(v: unknown, field: string): string {
	if (v == null) return "UTC";
	if (typeof v !== "string" || !v) fail(field, "must be an IANA time zone name");
	try {
		new Intl.DateTimeFormat("en-US", { timeZone: v });
	} catch {
		fail(field, `unknown time zone '${v}'`);
	}
	return v;
}

function unknownKeys(o: Obj, allowed: string[], field: string): void {
	for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(field ? `${field}.${k}` : k, "is not a known field");
}

function datapointOf(o: Obj, field: string): string | number {
	const v = o.datapoint ?? o.datapointId;
	if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) return v;
	if (typeof v === "string" && v.length >= 1 && v.length <= 100) return /^\d+$/.test(v) ? Number(v) : v;
	fail(`${field}.datapoint`, "must be a datapoint label or id");
}

function bounds(o: Obj, field: string): { above: number | null; below: number | null } {
	const above = numOrNull(o.above, `${field}.above`);
	const below = numOrNull(o.below, `${field}.below`);
	if (above == null && below == null) fail(`${field}.above`, "give `above`, `below` or both");
	if (above != null && below != null && above >= below)
		fail(`${field}.below`, "must be greater than `above` (both: inside the band)");
	return { above, below };
}

export function validateTrigger(v: unknown, refs: DeviceRef[], field = "trigger"): Trigger {
	const o = obj(v, field);
	const type = oneOf(o.type, `${field}.type`, ["reading", "device_status"] as const);
	const deviceId = posInt(o.deviceId, `${field}.deviceId`);
	const forD = duration(o.for ?? 0, `${field}.for`, 0, MAX_FOR_MS);
	if (type === "device_status") {
		unknownKeys(o, ["type", "deviceId", "to", "for"], field);
		refs.push({ field: `${field}.deviceId`, deviceId });
		return { type, deviceId, to: oneOf(o.to, `${field}.to`, DEVICE_STATUSES), for: forD.text };
	}
	unknownKeys(o, ["type", "deviceId", "datapoint", "datapointId", "above", "below", "hysteresis", "for"], field);
	const { above, below } = bounds(o, field);
	const hysteresis = o.hysteresis == null ? 0 : numOrNull(o.hysteresis, `${field}.hysteresis`)!;
	if (hysteresis < 0) fail(`${field}.hysteresis`, "must be 0 or more");
	const t = { type, deviceId, datapoint: "", datapointId: 0, above, below, hysteresis, for: forD.text } as Extract<
		Trigger,
		{ type: "reading" }
	>;
	refs.push({
		field: `${field}.deviceId`,
		deviceId,
		datapoint: { field: `${field}.datapoint`, value: datapointOf(o, field), target: t }
	});
	return t;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export function validateCondition(v: unknown, refs: DeviceRef[], field: string): Condition {
	const o = obj(v, field);
	const type = oneOf(o.type, `${field}.type`, ["reading", "time"] as const);
	if (type === "time") {
		unknownKeys(o, ["type", "after", "before", "weekdays", "timezone"], field);
		const after =
			o.after == null
				? null
				: HHMM.test(String(o.after))
					? String(o.after)
					: fail(`${field}.after`, "must be HH:MM (00:00–23:59)");
		const before =
			o.before == null
				? null
				: HHMM.test(String(o.before))
					? String(o.before)
					: fail(`${field}.before`, "must be HH:MM (00:00–23:59)");
		let weekdays: Weekday[] | null = null;
		if (o.weekdays != null) {
			if (!Array.isArray(o.weekdays) || o.weekdays.length > 7)
				fail(`${field}.weekdays`, "must be a list of weekdays");
			weekdays = o.weekdays.map((d, i) => oneOf(d, `${field}.weekdays[${i}]`, WEEKDAYS));
		}
		if (after == null && before == null && !weekdays)
			fail(`${field}.after`, "give `after`, `before` or `weekdays`");
		return { type, after, before, weekdays, timezone: timezone(o.timezone, `${field}.timezone`) };
	}
	unknownKeys(o, ["type", "deviceId", "datapoint", "datapointId", "above", "below", "maxAge"], field);
	const deviceId = posInt(o.deviceId, `${field}.deviceId`);
	const { above, below } = bounds(o, field);
	const maxAge = o.maxAge == null ? null : duration(o.maxAge, `${field}.maxAge`, 1, 30 * DAY_MS).text;
	const c = { type, deviceId, datapoint: "", datapointId: 0, above, below, maxAge } as Extract<
		Condition,
		{ type: "reading" }
	>;
	refs.push({
		field: `${field}.deviceId`,
		deviceId,
		datapoint: { field: `${field}.datapoint`, value: datapointOf(o, field), target: c }
	});
	return c;
}

export function validateWrite(action: CommandAction, v: unknown, field: string): WriteParams {
	const p = v == null ? {} : obj(v, field);
	if (action === "close") {
		unknownKeys(p, [], field);
		return {};
	}
	unknownKeys(p, ["line", "register", "value"], field);
	if (p.line != null) {
		if (p.register != null || p.value != null) fail(`${field}.line`, "give `line` or `register`+`value`, not both");
		return { line: str(p.line, `${field}.line`, 4096) };
	}
	if (p.register == null) fail(`${field}.line`, "a write needs `line` or `register`+`value`");
	const register = intIn(p.register, `${field}.register`, 0, 65535);
	if (p.value == null) fail(`${field}.value`, "a register write needs `value`");
	const value = intIn(p.value, `${field}.value`, -2_147_483_648, 4_294_967_295);
	return { register, value };
}

export function validateTtl(v: unknown, field: string): string {
	return duration(v ?? "1m", field, 1000, MAX_FOR_MS).text;
}

export function validateActions(v: unknown, refs: DeviceRef[], field = "actions"): Action[] {
	if (!Array.isArray(v) || v.length < 1 || v.length > 20) fail(field, "must be a list of 1–20 actions");
	return v.map((a, i) => {
		const f = `${field}[${i}]`;
		const o = obj(a, f);
		const type = oneOf(o.type, `${f}.type`, ["command", "delay"] as const);
		if (type === "delay") {
			unknownKeys(o, ["type", "for"], f);
			return { type, for: duration(o.for, `${f}.for`, 1, MAX_FOR_MS).text };
		}
		unknownKeys(o, ["type", "deviceId", "action", "params", "ttl"], f);
		const deviceId = posInt(o.deviceId, `${f}.deviceId`);
		refs.push({ field: `${f}.deviceId`, deviceId });
		const action = oneOf(o.action, `${f}.action`, COMMAND_ACTIONS);
		return {
			type,
			deviceId,
			action,
			params: validateWrite(action, o.params, `${f}.params`),
			ttl: validateTtl(o.ttl, `${f}.ttl`)
		};
	});
}

const RULE_FIELDS = [
	"name",
	"enabled",
	"mode",
	"trigger",
	"conditions",
	"actions",
	"maxRunsPerHour"
] satisfies (keyof RuleDef)[];
/** Read-only fields a client may send back unchanged (a GET answer PUT again). */
const READ_ONLY = ["id", "state", "disabledReason", "createdBy", "createdAt", "updatedAt", "nextRunAt", "lastRunAt"];

export function validateRule(v: unknown): { rule: RuleDef; refs: DeviceRef[] } {
	const o = obj(v, "body");
	unknownKeys(o, [...RULE_FIELDS, ...READ_ONLY], "");
	const refs: DeviceRef[] = [];
	const name = str(o.name, "name", 200);
	const enabled = o.enabled == null ? true : bool(o.enabled, "enabled");
	const mode = o.mode == null ? "single" : oneOf(o.mode, "mode", RULE_MODES);
	const trigger = validateTrigger(o.trigger, refs);
	if (o.conditions != null && (!Array.isArray(o.conditions) || o.conditions.length > 20))
		fail("conditions", "must be a list of at most 20 conditions");
	const conditions = ((o.conditions as unknown[]) ?? []).map((c, i) =>
		validateCondition(c, refs, `conditions[${i}]`)
	);
	const actions = validateActions(o.actions, refs);
	const maxRunsPerHour = o.maxRunsPerHour == null ? 60 : intIn(o.maxRunsPerHour, "maxRunsPerHour", 1, 3600);
	return { rule: { name, enabled, mode, trigger, conditions, actions, maxRunsPerHour }, refs };
}

export interface ScheduleDef {
	name: string;
	enabled: boolean;
	cron: string | null;
	intervalMs: number | null;
	interval: string | null;
	timezone: string;
	startAt: number | null;
	endAt: number | null;
	misfire: MisfirePolicy;
	mode: RuleMode;
	actions: Action[];
}

function isoTime(v: unknown, field: string): number | null {
	if (v == null) return null;
	const t = typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : NaN;
	if (!Number.isFinite(t)) fail(field, "must be an ISO 8601 time or epoch ms");
	return t;
}

/** `cron` xor `interval`, with the time zone checked. */
export function validateTiming(o: Obj): Pick<ScheduleDef, "cron" | "intervalMs" | "interval" | "timezone"> {
	const hasCron = o.cron != null;
	const hasInterval = o.interval != null;
	if (hasCron === hasInterval) fail(hasCron ? "interval" : "cron", "give exactly one of `cron` and `interval`");
	const tz = timezone(o.timezone, "timezone");
	if (hasCron) {
		const cron = str(o.cron, "cron", 200);
		try {
			checkCron(cron, tz);
		} catch (err) {
			fail("cron", `not a valid cron: ${errorMessage(err)}`);
		}
		return { cron, intervalMs: null, interval: null, timezone: tz };
	}
	const iv = duration(o.interval, "interval", 1000, 365 * DAY_MS);
	return { cron: null, intervalMs: iv.ms, interval: iv.text, timezone: tz };
}

export function validateSchedule(v: unknown): { schedule: ScheduleDef; refs: DeviceRef[] } {
	const o = obj(v, "body");
	unknownKeys(
		o,
		[
			"name",
			"enabled",
			"cron",
			"interval",
			"timezone",
			"startAt",
			"endAt",
			"misfire",
			"mode",
			"actions",
			...READ_ONLY
		],
		""
	);
	const refs: DeviceRef[] = [];
	const name = str(o.name, "name", 200);
	const enabled = o.enabled == null ? true : bool(o.enabled, "enabled");
	const timing = validateTiming(o);
	const startAt = isoTime(o.startAt, "startAt");
	const endAt = isoTime(o.endAt, "endAt");
	if (startAt != null && endAt != null && endAt <= startAt) fail("endAt", "must be after `startAt`");
	const misfire = o.misfire == null ? "run_once" : oneOf(o.misfire, "misfire", MISFIRE_POLICIES);
	const mode = o.mode == null ? "single" : oneOf(o.mode, "mode", RULE_MODES);
	const actions = validateActions(o.actions, refs);
	return { schedule: { name, enabled, ...timing, startAt, endAt, misfire, mode, actions }, refs };
}

export interface CommandBody {
	action: CommandAction;
	params: WriteParams;
	ttl: string;
	ttlMs: number;
	idempotencyKey: string | null;
	wait: number;
}

export function validateCommand(v: Obj): CommandBody {
	unknownKeys(v, ["action", "params", "ttl", "idempotencyKey", "wait"], "");
	const action = oneOf(v.action, "action", COMMAND_ACTIONS);
	const params = validateWrite(action, v.params, "params");
	const ttl = validateTtl(v.ttl, "ttl");
	const idempotencyKey = v.idempotencyKey == null ? null : str(v.idempotencyKey, "idempotencyKey", 200);
	const wait = v.wait == null ? 0 : intIn(v.wait, "wait", 0, 30_000);
	return { action, params, ttl, ttlMs: parseDuration(ttl)!, idempotencyKey, wait };
}

/** Request times: ISO 8601, epoch ms, `now`, or relative to now (`-15m`). */
export function parseTime(v: unknown, field: string, now = Date.now()): number | null {
	if (v == null || v === "") return null;
	if (typeof v === "number" && Number.isFinite(v)) return v;
	if (typeof v !== "string") fail(field, "must be a time");
	if (v === "now") return now;
	if (/^\d{10,}$/.test(v)) return Number(v);
	const rel = /^([+-])(.+)$/.exec(v);
	if (rel) {
		const ms = parseDuration(rel[2]);
		if (ms == null) fail(field, `'${v}' is not a relative time (e.g. -15m)`);
		return rel[1] === "-" ? now - ms : now + ms;
	}
	const t = Date.parse(v);
	if (!Number.isFinite(t)) fail(field, `'${v}' is not a time (ISO 8601, epoch ms, now or -15m)`);
	return t;
}

export function validatePreview(v: Obj): {
	timing: ReturnType<typeof validateTiming>;
	from: number;
	count: number;
	startAt: number | null;
	endAt: number | null;
} {
	unknownKeys(v, ["cron", "interval", "timezone", "from", "count", "startAt", "endAt"], "");
	const timing = validateTiming(v);
	const from = parseTime(v.from, "from") ?? Date.now();
	const count = v.count == null ? 5 : intIn(v.count, "count", 1, 50);
	return { timing, from, count, startAt: isoTime(v.startAt, "startAt"), endAt: isoTime(v.endAt, "endAt") };
}

export function validateSimulate(v: Obj): { from: number; to: number } {
	const from = parseTime(v.from, "from");
	const to = parseTime(v.to, "to") ?? Date.now();
	if (from == null) fail("from", "is required");
	if (to <= from) fail("to", "must be after `from`");
	if (to - from > MAX_FOR_MS) fail("to", "the window is at most 7 days");
	return { from, to };
}
