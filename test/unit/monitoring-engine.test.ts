/** The alert engine's decisions for a batch, as effects, without a database. */
import { describe, expect, it, vi } from "vitest";
import type { ThresholdRule } from "../../services/monitoring/alerts";
import { AlertEngine, type EngineState } from "../../services/monitoring/engine";
import type { DatapointMeta } from "../../services/monitoring/store";

function state(): EngineState {
	const rule: ThresholdRule = {
		id: 9,
		datapointId: 2,
		direction: "above",
		threshold: 30,
		hysteresis: 1,
		minDurationMs: 0,
		severity: "warning",
		enabled: true
	};
	const meta: DatapointMeta = {
		id: 2,
		deviceId: 1,
		label: "temperature",
		unit: "°C",
		decoding: null,
		device: "Uno",
		profile: null,
		owner: null
	};
	return {
		rules: new Map([[2, [rule]]]),
		ruleStates: new Map(),
		meta: new Map([[2, meta]]),
		offlineOpen: new Set([1])
	};
}

describe("AlertEngine.ingest", () => {
	it("turns a batch into live points, a raise, the touch, the offline clear and the copies, in that order", () => {
		const engine = new AlertEngine(state());
		const t = Date.UTC(2026, 0, 1);
		const effects = engine.ingest([
			{ deviceId: 1, datapointId: 2, value: 31, ts: t + 1000 },
			{ deviceId: 1, datapointId: 2, value: 20, ts: t }
		]);
		expect(effects.map(e => e.type)).toEqual(["live", "live", "raise", "touch", "clear", "store"]);
		// Sorted by time: the 20 °C point first, the crossing second.
		expect(effects[0]).toMatchObject({
			type: "live",
			deviceId: 1,
			reading: { value: 20, label: "temperature", unit: "°C", ts: t }
		});
		expect(effects[2]).toMatchObject({
			type: "raise",
			alert: { kind: "threshold", ruleId: 9, deviceId: 1, severity: "warning", value: 31 }
		});
		expect(effects[4]).toMatchObject({ type: "clear", kind: "offline", deviceId: 1 });
		expect(effects[5]).toEqual({
			type: "store",
			readings: [
				{ deviceId: 1, datapointId: 2, label: "temperature", unit: "°C", value: 20, ts: t },
				{ deviceId: 1, datapointId: 2, label: "temperature", unit: "°C", value: 31, ts: t + 1000 }
			]
		});
	});

	it("makes no document copies when there is no document store, and the same other effects", () => {
		const t = Date.UTC(2026, 0, 1);
		const batch = [
			{ deviceId: 1, datapointId: 2, value: 31, ts: t + 1000 },
			{ deviceId: 1, datapointId: 2, value: 20, ts: t }
		];
		// The offline clear is stamped with the time of the call: the same for both.
		vi.useFakeTimers({ now: t + 5000 });
		try {
			const all = new AlertEngine(state()).ingest(batch);
			const without = new AlertEngine(state()).ingest(batch, { copies: false });
			expect(without).toEqual(all.filter(e => e.type !== "store"));
		} finally {
			vi.useRealTimers();
		}
	});

	it("leaves a batch in arrival order when no rule needs time order, and sorts one that has rules", () => {
		const t = Date.UTC(2026, 0, 1);
		const batch = [
			{ deviceId: 1, datapointId: 2, value: 31, ts: t + 1000 },
			{ deviceId: 1, datapointId: 2, value: 20, ts: t }
		];
		const values = (s: EngineState) =>
			new AlertEngine(s)
				.ingest(batch, { copies: false })
				.flatMap(e => (e.type === "live" ? [e.reading.value] : []));
		const noRules = state();
		noRules.rules.clear();
		expect(values(noRules)).toEqual([31, 20]);
		expect(values(state())).toEqual([20, 31]);
		expect(batch[0].value).toBe(31); // the caller's array is not sorted in place
	});

	it("raises once while the value stays high, clears below the hysteresis, ignores other devices", () => {
		const s = state();
		s.offlineOpen.clear();
		const engine = new AlertEngine(s);
		const kinds = (v: number, deviceId = 1) =>
			engine
				.ingest([{ deviceId, datapointId: 2, value: v, ts: Date.now() }])
				.filter(e => e.type === "raise" || e.type === "clear")
				.map(e => e.type);
		expect(kinds(35)).toEqual(["raise"]);
		expect(kinds(36)).toEqual([]);
		expect(kinds(29.5)).toEqual([]);
		expect(kinds(28)).toEqual(["clear"]);
		expect(kinds(40, 5)).toEqual([]);
	});
});
