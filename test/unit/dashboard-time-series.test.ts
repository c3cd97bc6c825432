/** The dashboard chart's pure helpers: gaps after an outage, tick labels, bucket choice. */
import { describe, expect, it } from "vitest";
import {
	DAY,
	HOUR,
	MAX_POINTS,
	medianStep,
	pickBucket,
	timeTickLabels,
	withGaps
} from "../../services/gateway/dashboard/src/lib/time-series";

describe("dashboard time series helpers", () => {
	it("puts one null into each hole longer than the gap and none elsewhere", () => {
		const xs = [0, 1, 2, 3, 60, 61, 62, 200];
		const g = withGaps(
			xs,
			xs.map(x => x * 2),
			5
		);
		expect(g.ys.filter(y => y === null)).toHaveLength(2);
		expect(g.xs).toEqual([0, 1, 2, 3, 31.5, 60, 61, 62, 131, 200]);
		expect(withGaps([0, 1, 2], [1, 2, 3], 5).ys).toEqual([1, 2, 3]);
	});

	it("takes the median spacing, so an outage does not widen the gap threshold", () => {
		expect(medianStep([0, 1, 2, 3, 1000, 1001, 1002])).toBe(1);
		expect(medianStep([5])).toBe(0);
	});

	it("labels ticks with the clock within a day and with the date beyond", () => {
		const t = new Date(2026, 0, 2, 13, 5, 0).getTime() / 1000;
		expect(timeTickLabels([t, t + 120], HOUR)).toEqual(["13:05", "13:07"]);
		expect(timeTickLabels([t, t + 10], 60)).toEqual(["13:05:00", "13:05:10"]);
		expect(timeTickLabels([t, t + 12 * HOUR], 7 * DAY)[0]).toBe("01-02 13:05");
		expect(timeTickLabels([t, t + DAY], 30 * DAY)[0]).toBe("01-02");
	});

	it("picks a bucket that keeps a range under the point budget", () => {
		for (const span of [2 * HOUR, DAY, 7 * DAY, 90 * DAY]) {
			const [name, s] = pickBucket(span);
			expect(span / s, name).toBeLessThanOrEqual(MAX_POINTS);
		}
		expect(pickBucket(DAY)[0]).toBe("5m");
		expect(pickBucket(7 * DAY)[0]).toBe("30m");
	});
});
