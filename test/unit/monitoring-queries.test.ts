import { describe, expect, it } from "vitest";
import {
	isoFromEpochSeconds,
	buildDataQuery,
	checkBucketCount,
	decodeCursor,
	encodeCursor,
	parseBucket,
	parseTime,
	resolveWindow,
	MAX_BUCKETS
} from "../../services/monitoring/queries";

describe("time parameters", () => {
	const now = Date.parse("2026-01-01T12:00:00Z");
	it("accepts ISO, epoch ms and relative times", () => {
		expect(parseTime("2026-01-01T10:00:00Z", "from", now)?.toISOString()).toBe("2026-01-01T10:00:00.000Z");
		expect(parseTime(String(now), "from", now)?.getTime()).toBe(now);
		expect(parseTime("-15m", "from", now)?.getTime()).toBe(now - 15 * 60_000);
		expect(parseTime("now", "to", now)?.getTime()).toBe(now);
		expect(parseTime(undefined, "from", now)).toBeUndefined();
	});
	it("refuses garbage with a 422 naming the parameter", () => {
		expect(() => parseTime("yesterday-ish", "from", now)).toThrow(/'from' must be/);
		try {
			parseTime("nope", "to", now);
		} catch (err) {
			expect((err as { code: number }).code).toBe(422);
		}
	});
	it("bounds windows", () => {
		expect(() => resolveWindow(new Date(now), new Date(now - 1), 1000, 10_000)).toThrow(/before/);
		expect(() => resolveWindow(new Date(0), new Date(now), 1000, 10_000)).toThrow(/at most/);
		const w = resolveWindow(undefined, new Date(now), 3600_000, 86_400_000);
		expect(w.to.getTime() - w.from.getTime()).toBe(3600_000);
	});
});

describe("buckets", () => {
	it("formats bucket starts from epoch seconds as the API's microsecond ISO text", () => {
		expect(isoFromEpochSeconds(0)).toBe("1970-01-01T00:00:00.000000Z");
		expect(isoFromEpochSeconds(1767225600)).toBe("2026-01-01T00:00:00.000000Z");
		expect(isoFromEpochSeconds(1767225601.1)).toBe("2026-01-01T00:00:01.100000Z");
		expect(isoFromEpochSeconds(1767225600.000501)).toBe("2026-01-01T00:00:00.000501Z");
		expect(isoFromEpochSeconds(-0.5)).toBe("1969-12-31T23:59:59.500000Z");
		expect(isoFromEpochSeconds(-86_400.000001)).toBe("1969-12-30T23:59:59.999999Z");
	});
	it("parses widths", () => {
		expect(parseBucket("10s")).toBe(10_000);
		expect(parseBucket("5 minutes")).toBe(300_000);
		expect(parseBucket("1m")).toBe(60_000);
		expect(parseBucket("1h")).toBe(3600_000);
		expect(parseBucket("2d")).toBe(172_800_000);
		expect(() => parseBucket("500ms")).toThrow(/at least 1s/);
		expect(() => parseBucket("fortnight")).toThrow(/bucket/);
	});
	it("refuses more than MAX_BUCKETS buckets", () => {
		const from = new Date(0);
		expect(() => checkBucketCount({ from, to: new Date((MAX_BUCKETS + 1) * 1000) }, 1000)).toThrow(/too small/);
		expect(() => checkBucketCount({ from, to: new Date(MAX_BUCKETS * 1000) }, 1000)).not.toThrow();
	});
});

describe("cursors", () => {
	it("round-trip and reject forgeries", () => {
		const c = { ts: "2026-01-01T10:00:00.123456Z", deviceId: 3, datapointId: 9 };
		expect(decodeCursor(encodeCursor(c))).toEqual(c);
		expect(() => decodeCursor(Buffer.from("1; DROP TABLE x").toString("base64url"))).toThrow(/cursor/);
	});
	it("become a keyset condition, never string-concatenated SQL", () => {
		const q = buildDataQuery({
			window: { from: new Date(0), to: new Date(1000) },
			limit: 10,
			cursor: { ts: "2026-01-01T10:00:00.123456Z", deviceId: 3, datapointId: 9 },
			datapoint: "x'; --"
		});
		expect(q.text).toContain("(d.timestamp, d.device_id, d.datapoint_id) <");
		expect(q.text).not.toContain("x';");
		expect(q.values).toContain("x'; --");
		expect(q.values[q.values.length - 1]).toBe(11);
	});
});
