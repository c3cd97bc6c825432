import { describe, expect, it } from "vitest";
import {
	checkReadings,
	packReadings,
	readingProblem,
	readingsOf,
	unpackReadings,
	READING_ENTRY_BYTES,
	type Reading
} from "../../services/shared/contracts";

/** Through the channel's JSON serializer, as every consumer receives it. */
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v));

describe("packed telemetry.readings", () => {
	const readings: Reading[] = [
		{ deviceId: 1, datapointId: 2, value: 21.37, ts: 1_733_112_345_678 },
		{ deviceId: 2 ** 31 - 1, datapointId: 7, value: -0.001, ts: 946_684_800_000 },
		{ deviceId: 3, datapointId: 4, value: 1e300, ts: "2026-12-02T04:00:00.123Z" }
	];

	it("round-trips ids, values and times exactly (ISO times as epoch ms)", () => {
		const packed = wire(packReadings(readings));
		expect(packed).toEqual({ v: 2, packed: expect.any(String) });
		expect(Buffer.from(packed.packed, "base64")).toHaveLength(3 * READING_ENTRY_BYTES);
		expect(unpackReadings(packed)).toEqual([
			readings[0],
			readings[1],
			{ ...readings[2], ts: Date.parse("2026-12-02T04:00:00.123Z") }
		]);
		expect(readingsOf(packed)).toEqual(unpackReadings(packed));
		expect(readingsOf(wire(packReadings([])))).toEqual([]);
	});

	it("carries readings that do not fit an entry as they came, refused with the first shape's reasons", () => {
		const bad = [
			{ deviceId: 0, datapointId: 2, value: 1, ts: 1 },
			{ deviceId: 1.5, datapointId: 2, value: 1, ts: 1 },
			{ deviceId: 1, datapointId: 2, value: NaN, ts: 1 },
			{ deviceId: 1, datapointId: 2, value: 3, ts: "soon" },
			{ deviceId: 1, datapointId: 2, value: "hot", ts: 1 }
		] as unknown as Reading[];
		const packed = wire(packReadings([readings[0], ...bad]));
		expect(Buffer.from(packed.packed, "base64")).toHaveLength(READING_ENTRY_BYTES);
		const back = readingsOf(packed);
		expect(back[0]).toEqual(readings[0]);
		expect(back.slice(1).map(readingProblem)).toEqual(wire(bad).map(readingProblem));
		expect(back.slice(1).map(readingProblem)).toEqual([
			expect.stringMatching(/^deviceId 0/),
			expect.stringMatching(/^deviceId 1.5/),
			expect.stringMatching(/^value null/),
			expect.stringMatching(/^ts "soon"/),
			expect.stringMatching(/^value "hot"/)
		]);
	});

	it("hands crafted entries to the reading check like any other reading", () => {
		const buf = Buffer.alloc(READING_ENTRY_BYTES);
		buf.writeInt32LE(-5, 0);
		buf.writeInt32LE(3, 4);
		buf.writeDoubleLE(Infinity, 8);
		buf.writeDoubleLE(1, 16);
		const [r] = readingsOf({ v: 2, packed: buf.toString("base64") });
		expect(readingProblem(r)).toMatch(/^deviceId -5 is not a positive int4/);
		buf.writeInt32LE(5, 0);
		expect(readingProblem(readingsOf({ v: 2, packed: buf.toString("base64") })[0])).toMatch(/^value null/);
	});

	it("refuses a malformed message with the reason", () => {
		const packed = packReadings(readings);
		const cut = Buffer.from(packed.packed, "base64").subarray(0, 30).toString("base64");
		expect(() => readingsOf({ v: 2, packed: cut })).toThrow(/30 bytes, not a multiple of 24/);
		expect(() => readingsOf({ v: 2, packed: 42 })).toThrow(/needs a packed string/);
		expect(() => readingsOf({ v: 2, packed: "", readings: "x" })).toThrow(/readings is not an array/);
		expect(() => readingsOf({ hello: "world" })).toThrow(/neither packed entries nor a readings array/);
		expect(() => readingsOf(null)).toThrow(/neither packed entries nor a readings array/);
		expect(() => readingsOf({ readings: "x" })).toThrow(/neither packed entries nor a readings array/);
	});

	it("checks every reading: packed entries kept as they are, ISO times as epoch ms, the rest refused", () => {
		const list = readingsOf(wire(packReadings(readings)));
		const bad = { deviceId: 1, datapointId: 2, value: "hot", ts: 1 };
		const { accepted, refused } = checkReadings([...list, bad]);
		expect(accepted).toHaveLength(3);
		expect(accepted[0]).toBe(list[0]);
		expect(checkReadings([readings[2]]).accepted).toEqual([
			{ ...readings[2], ts: Date.parse(readings[2].ts as string) }
		]);
		expect(refused).toEqual([{ reading: bad, problem: readingProblem(bad) }]);
	});

	it("still reads the first { readings } shape, unchanged", () => {
		const old = wire({ readings: [...readings, { deviceId: "x" }] });
		expect(readingsOf(old)).toEqual(old.readings);
	});
});
