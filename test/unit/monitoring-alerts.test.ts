import { describe, expect, it } from "vitest";
import {
	evaluate,
	initialState,
	isOffline,
	profileAlertDefaults,
	describeThreshold,
	type ThresholdRule
} from "../../services/monitoring/alerts";

const above: ThresholdRule = {
	id: 1,
	datapointId: 7,
	direction: "above",
	threshold: 30,
	hysteresis: 2,
	minDurationMs: 10_000,
	severity: "warning",
	enabled: true
};

function run(rule: ThresholdRule, points: [number, number][]) {
	const state = initialState();
	return points.map(([t, v]) => evaluate(rule, state, v, t)?.action ?? null);
}

describe("threshold rule evaluation", () => {
	it("raises only after the threshold stayed crossed for the minimum duration", () => {
		expect(
			run(above, [
				[0, 31],
				[5_000, 32],
				[9_999, 33],
				[10_000, 34]
			])
		).toEqual([null, null, null, "raise"]);
	});

	it("restarts the minimum duration when the value dips back below the threshold", () => {
		expect(
			run(above, [
				[0, 31],
				[6_000, 29],
				[7_000, 31],
				[16_000, 31],
				[17_000, 31]
			])
		).toEqual([null, null, null, null, "raise"]);
	});

	it("does not raise twice while open, and clears only past the hysteresis", () => {
		const rule = { ...above, minDurationMs: 0 };
		// 29 and 28.5 are inside the band (30-2 .. 30): still open; 28 clears.
		expect(
			run(rule, [
				[0, 35],
				[1, 36],
				[2, 29],
				[3, 28.5],
				[4, 28],
				[5, 27],
				[6, 31]
			])
		).toEqual(["raise", null, null, null, "clear", null, "raise"]);
	});

	it("handles 'below' rules symmetrically", () => {
		const below: ThresholdRule = { ...above, direction: "below", threshold: 5, hysteresis: 1, minDurationMs: 0 };
		expect(
			run(below, [
				[0, 6],
				[1, 4.9],
				[2, 5.5],
				[3, 6],
				[4, 4]
			])
		).toEqual([null, "raise", null, "clear", "raise"]);
	});

	it("ignores disabled rules and non-finite values", () => {
		expect(run({ ...above, enabled: false, minDurationMs: 0 }, [[0, 100]])).toEqual([null]);
		expect(
			run({ ...above, minDurationMs: 0 }, [
				[0, Number.NaN],
				[1, Number.POSITIVE_INFINITY]
			])
		).toEqual([null, null]);
	});

	it("describes the crossing with label and unit", () => {
		expect(describeThreshold(above, "temperature", "°C", 31.25)).toBe("temperature 31.25 °C is above 30 °C");
	});
});

describe("offline detection", () => {
	it("is offline only when silent for longer than the expected interval", () => {
		expect(isOffline(0, 60_000, 60_000)).toBe(false);
		expect(isOffline(0, 60_000, 60_001)).toBe(true);
		expect(isOffline(0, 60_000, 120_000, 3)).toBe(false);
	});
});

describe("profile alert defaults", () => {
	it("reads alert and alerts entries with above/below, hysteresis, for and severity", () => {
		const { defaults, problems } = profileAlertDefaults({
			label: "temperature",
			alert: { above: 30, below: 5, hysteresis: 0.5, for: 10, severity: "critical" },
			alerts: [{ above: 40 }]
		});
		expect(problems).toEqual([]);
		expect(defaults).toEqual([
			{ direction: "above", threshold: 30, hysteresis: 0.5, minDurationS: 10, severity: "critical" },
			{ direction: "below", threshold: 5, hysteresis: 0.5, minDurationS: 10, severity: "critical" },
			{ direction: "above", threshold: 40, hysteresis: 0, minDurationS: 0, severity: "warning" }
		]);
	});

	it("reports malformed entries instead of guessing", () => {
		const { defaults, problems } = profileAlertDefaults({
			alert: [{ above: "hot" }, { below: 1, severity: "panic" }, 3]
		});
		expect(defaults).toEqual([]);
		expect(problems).toHaveLength(3);
	});
});
