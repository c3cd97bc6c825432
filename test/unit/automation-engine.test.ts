/**
 * The automation service's pure modules: trigger engine, conditions, schedule planner, validation, outbox decisions.
 */
import { describe, expect, it } from "vitest";
import {
	checkReadingCondition,
	checkTimeCondition,
	initialEdgeState,
	step,
	stepTimer,
	triggerSpec,
	type EdgeState
} from "../../services/automation/engine";
import { classifyDeliveryError, commandBodyKey, desiredOf, retryDelayMs } from "../../services/automation/outbox";
import { MISFIRE_AFTER_MS, nextAfter, planDue, preview, type ScheduleSpec } from "../../services/automation/planner";
import { parseTime, validateActions, validateRule, validateSchedule } from "../../services/automation/validate";
import { formatDuration, parseDuration, type Trigger } from "../../services/shared/contracts/automation";

const reading = (over: Partial<Extract<Trigger, { type: "reading" }>> = {}): Trigger => ({
	type: "reading",
	deviceId: 1,
	datapoint: "t",
	datapointId: 2,
	above: 30,
	below: null,
	hysteresis: 1,
	for: "0s",
	...over
});

function run(trigger: Trigger, inputs: Array<[number | string, number]>, state: EdgeState = initialEdgeState()) {
	const spec = triggerSpec(trigger);
	const effects = [];
	for (const [v, ts] of inputs) {
		const r = step(spec, state, v, ts);
		state = r.state;
		effects.push(...r.effects);
	}
	return { state, effects };
}

describe("durations", () => {
	it("parses and normalises", () => {
		expect(parseDuration("500ms")).toBe(500);
		expect(parseDuration("1h30m")).toBe(5_400_000);
		expect(parseDuration(90)).toBe(90_000);
		expect(parseDuration("2d")).toBe(172_800_000);
		expect(parseDuration("soon")).toBeNull();
		expect(parseDuration("-5s")).toBeNull();
		expect(formatDuration(90_000)).toBe("1m30s");
		expect(formatDuration(0)).toBe("0s");
	});
});

describe("trigger engine", () => {
	it("edge-triggered with hysteresis: fires once per crossing", () => {
		const { effects } = run(reading(), [
			[29, 1],
			[31, 2],
			[35, 3],
			[29.5, 4],
			[31, 5],
			[28.9, 6],
			[31, 7]
		]);
		expect(effects.filter(e => e.type === "fire").map(e => e.ts)).toEqual([2, 7]);
	});

	it("for: fires when held long enough at a reading, cancels on a contrary one", () => {
		const t = reading({ for: "10s", hysteresis: 0 });
		const a = run(t, [
			[31, 0],
			[32, 5000],
			[29, 6000],
			[31, 7000],
			[33, 17_000]
		]);
		expect(a.effects.map(e => e.type)).toEqual(["wait", "cancel", "wait", "fire"]);
		expect(a.effects[3]).toMatchObject({ type: "fire", pendingSince: 7000, heldMs: 10_000, value: 33 });
	});

	it("for: the durable timer fires at pendingSince + for with the value that started the wait", () => {
		const t = reading({ for: "3s" });
		const spec = triggerSpec(t);
		const { state } = run(t, [[31, 1000]]);
		expect(stepTimer(spec, state, 1000, 3999).effects).toEqual([]);
		const r = stepTimer(spec, state, 1000, 4000);
		expect(r.effects).toEqual([{ type: "fire", pendingSince: 1000, heldMs: 3000, value: 31, ts: 4000 }]);
		expect(r.state.armed).toBe(false);
		// A stale timer (another wait) does nothing.
		expect(stepTimer(spec, state, 999, 9999).changed).toBe(false);
	});

	it("a contrary reading that arrives after the wait came due still fires it (the timer's moment had passed)", () => {
		const { effects, state } = run(reading({ above: 80, for: "300ms", hysteresis: 0 }), [
			[90, 0],
			[91, 200],
			[50, 500]
		]);
		expect(effects.filter(e => e.type === "fire")).toEqual([
			{ type: "fire", pendingSince: 0, heldMs: 300, value: 90, ts: 300 }
		]);
		expect(state.armed).toBe(true); // 50 re-armed it
	});

	it("redelivered and older inputs are ignored", () => {
		const first = run(reading(), [[31, 10]]);
		const again = run(
			reading(),
			[
				[31, 10],
				[31, 5]
			],
			first.state
		);
		expect(again.effects).toEqual([]);
	});

	it("a band: above and below", () => {
		const { effects } = run(reading({ above: 10, below: 20, hysteresis: 0 }), [
			[5, 1],
			[15, 2],
			[25, 3],
			[15, 4]
		]);
		expect(effects.filter(e => e.type === "fire").map(e => e.ts)).toEqual([2, 4]);
	});

	it("device status triggers", () => {
		const { effects } = run({ type: "device_status", deviceId: 1, to: "disconnected", for: "0s" }, [
			["streaming", 1],
			["disconnected", 2],
			["disconnected", 3],
			["streaming", 4],
			["disconnected", 5]
		]);
		expect(effects.filter(e => e.type === "fire").map(e => e.ts)).toEqual([2, 5]);
	});
});

describe("conditions", () => {
	it("reading: value, bounds and age", () => {
		const c = {
			type: "reading" as const,
			deviceId: 1,
			datapoint: "h",
			datapointId: 3,
			above: null,
			below: 70,
			maxAge: "5m"
		};
		expect(checkReadingCondition(c, { value: 55, ts: 0 }, 1000).ok).toBe(true);
		expect(checkReadingCondition(c, { value: 75, ts: 0 }, 1000).ok).toBe(false);
		expect(checkReadingCondition(c, { value: 55, ts: 0 }, 301_000).detail.reason).toBe("too old");
		expect(checkReadingCondition(c, null, 0).ok).toBe(false);
	});

	it("time windows in a time zone, across midnight, on weekdays", () => {
		// 2027-01-04 is a Monday; 06:30 UTC = 07:30 in Berlin.
		const mon0630 = Date.parse("2027-01-04T06:30:00Z");
		const c = {
			type: "time" as const,
			after: "07:00",
			before: "22:00",
			weekdays: ["mon" as const],
			timezone: "Europe/Berlin"
		};
		expect(checkTimeCondition(c, mon0630)).toMatchObject({ ok: true, detail: { local: "07:30", weekday: "mon" } });
		expect(checkTimeCondition({ ...c, timezone: "UTC" }, mon0630).ok).toBe(false);
		expect(checkTimeCondition({ ...c, weekdays: ["tue"] }, mon0630).ok).toBe(false);
		const night = { type: "time" as const, after: "22:00", before: "06:00", weekdays: null, timezone: "UTC" };
		expect(checkTimeCondition(night, Date.parse("2027-01-04T23:00:00Z")).ok).toBe(true);
		expect(checkTimeCondition(night, Date.parse("2027-01-04T05:59:00Z")).ok).toBe(true);
		expect(checkTimeCondition(night, Date.parse("2027-01-04T12:00:00Z")).ok).toBe(false);
	});
});

describe("schedule planner", () => {
	const cron = (pattern: string, timezone = "UTC"): ScheduleSpec => ({
		cron: pattern,
		intervalMs: null,
		timezone,
		startAt: null,
		endAt: null,
		anchor: 0
	});
	const every = (ms: number, anchor: number, endAt: number | null = null): ScheduleSpec => ({
		cron: null,
		intervalMs: ms,
		timezone: "UTC",
		startAt: anchor,
		endAt,
		anchor
	});

	it("DST in Europe/Berlin: the skipped 02:30 runs at 03:00, the repeated one once", () => {
		expect(
			preview(cron("30 2 * * *", "Europe/Berlin"), Date.parse("2027-03-27T12:00:00Z"), 2).map(t =>
				new Date(t).toISOString()
			)
		).toEqual(["2027-03-28T01:00:00.000Z", "2027-03-29T00:30:00.000Z"]);
		expect(
			preview(cron("30 2 * * *", "Europe/Berlin"), Date.parse("2027-10-30T12:00:00Z"), 2).map(t =>
				new Date(t).toISOString()
			)
		).toEqual(["2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"]);
	});

	it("intervals are anchored and stop at endAt", () => {
		expect(nextAfter(every(1000, 500), 500)).toBe(1500);
		expect(nextAfter(every(1000, 500), 1499)).toBe(1500);
		expect(nextAfter(every(1000, 500), 100)).toBe(500);
		expect(nextAfter(every(1000, 500, 2500), 1500)).toBeNull();
	});

	it("due occurrences: on time each, late ones collapsed by the misfire policy", () => {
		const s = every(10_000, 0);
		const now = 1_000_000;
		// Next stored at 0: everything up to now - 60 s is late; the last minute is on time.
		const once = planDue(s, 0, now, "run_once");
		expect(once.runs[0]).toEqual({ scheduledFor: now - MISFIRE_AFTER_MS - 10_000, misfired: true });
		expect(once.runs.slice(1).map(r => r.scheduledFor)).toEqual([
			940_000, 950_000, 960_000, 970_000, 980_000, 990_000, 1_000_000
		]);
		expect(once.next).toBe(1_010_000);
		const skip = planDue(s, 0, now, "skip");
		expect(skip.missed).toBe(930_000);
		expect(skip.runs.every(r => !r.misfired)).toBe(true);
		expect(planDue(s, 1_010_000, now, "skip")).toEqual({ runs: [], missed: null, next: 1_010_000 });
	});
});

describe("validation", () => {
	const trigger = { type: "reading", deviceId: 1, datapoint: "temperature", above: 30 };
	const actions = [{ type: "command", deviceId: 2, action: "write", params: { register: 10, value: 1 } }];
	const field = (fn: () => unknown) => {
		try {
			fn();
		} catch (err) {
			return (err as { code: number; data: { field: string } }).data.field;
		}
		return null;
	};

	it("defaults and normalised durations", () => {
		const { rule, refs } = validateRule({
			name: "r",
			trigger: { ...trigger, for: 90 },
			actions: [...actions, { type: "delay", for: "90s" }]
		});
		expect(rule).toMatchObject({ enabled: true, mode: "single", conditions: [], maxRunsPerHour: 60 });
		expect(rule.trigger).toMatchObject({ for: "1m30s", hysteresis: 0, below: null });
		expect(rule.actions[0]).toMatchObject({ ttl: "1m" });
		expect(rule.actions[1]).toEqual({ type: "delay", for: "1m30s" });
		expect(refs.map(r => r.field)).toEqual(["trigger.deviceId", "actions[0].deviceId"]);
	});

	it("names the bad field", () => {
		expect(field(() => validateRule({ name: "r", trigger: { ...trigger, above: undefined }, actions }))).toBe(
			"trigger.above"
		);
		expect(field(() => validateRule({ name: "r", trigger, actions, mode: "x" }))).toBe("mode");
		expect(
			field(() =>
				validateActions([{ type: "command", deviceId: 2, action: "write", params: { register: 1 } }], [])
			)
		).toBe("actions[0].params.value");
		expect(
			field(() =>
				validateActions(
					[{ type: "command", deviceId: 2, action: "write", ttl: "8d", params: { line: "x" } }],
					[]
				)
			)
		).toBe("actions[0].ttl");
		expect(field(() => validateSchedule({ name: "s", cron: "61 * * * *", actions }))).toBe("cron");
		expect(field(() => validateSchedule({ name: "s", cron: "* * * * * * *", actions }))).toBe("cron");
		expect(
			field(() =>
				validateSchedule({ name: "s", interval: "1m", startAt: "2027-01-02", endAt: "2027-01-01", actions })
			)
		).toBe("endAt");
		expect(field(() => validateRule({ name: "r", trigger, actions, extra: 1 }))).toBe("extra");
	});

	it("request times", () => {
		expect(parseTime("-15m", "from", 1_000_000)).toBe(100_000);
		expect(parseTime("now", "from", 5)).toBe(5);
		expect(parseTime("2027-01-01T00:00:00Z", "from")).toBe(Date.parse("2027-01-01T00:00:00Z"));
		expect(field(() => parseTime("yesterday", "from"))).toBe("from");
	});
});

describe("outbox decisions", () => {
	it("a timeout fails (never repeated); a missing device or node requeues; a refusal fails", () => {
		expect(classifyDeliveryError({ type: "REQUEST_TIMEOUT", code: 504 })).toMatchObject({
			kind: "fail",
			error: { type: "REQUEST_TIMEOUT" }
		});
		expect(classifyDeliveryError({ type: "NOT_FOUND", code: 404, message: "open device 5 not found" }).kind).toBe(
			"requeue"
		);
		expect(classifyDeliveryError({ type: "SERVICE_NOT_AVAILABLE", code: 404 }).kind).toBe("requeue");
		expect(classifyDeliveryError({ type: "DEVICE_WRITE_FAILED", code: 409, message: "Timed out" })).toEqual({
			kind: "fail",
			error: { type: "DEVICE_WRITE_FAILED", message: "Timed out" }
		});
		expect(retryDelayMs(1)).toBe(1000);
		expect(retryDelayMs(10)).toBe(30_000);
	});

	it("desired state and the idempotency body", () => {
		expect(desiredOf("write", { register: 10, value: 1 })).toEqual(["register:10", 1]);
		expect(desiredOf("write", { line: "PING" })).toEqual(["line", "PING"]);
		expect(desiredOf("close", {})).toBeNull();
		expect(commandBodyKey(1, "write", { register: 1, value: 2 }, "1m")).toBe(
			commandBodyKey(1, "write", { value: 2, register: 1 }, "1m")
		);
	});
});
