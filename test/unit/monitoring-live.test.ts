import { afterEach, describe, expect, it } from "vitest";
import { RoomThrottle, parseRoom, type LiveMessage } from "../../services/monitoring/live";

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe("per-room throttle", () => {
	let t: RoomThrottle | null = null;
	afterEach(() => t?.stop());

	it("sends the first reading of an idle room at once, then at most one message per interval", async () => {
		const sent: LiveMessage[][] = [];
		t = new RoomThrottle(100, m => sent.push(m), 5);
		t.add(1, { datapointId: 1, label: "t", unit: "°C", value: 1, ts: 1 });
		await sleep(20);
		expect(sent).toHaveLength(1);
		// 1,000 readings in a burst: coalesced into the next flush, newest 5 points kept.
		for (let i = 0; i < 1000; i++) t.add(1, { datapointId: 1, label: "t", unit: "°C", value: i, ts: 100 + i });
		await sleep(40);
		expect(sent).toHaveLength(1);
		await sleep(120);
		expect(sent).toHaveLength(2);
		const data = sent[1][0].data as { readings: { value: number }[]; coalesced: number };
		expect(sent[1][0].room).toBe("device:1");
		expect(data.readings.map(r => r.value)).toEqual([995, 996, 997, 998, 999]);
		expect(data.coalesced).toBe(995);
	});

	it("counts what it drops whether trimmed while buffering or at the flush", async () => {
		const sent: LiveMessage[][] = [];
		t = new RoomThrottle(60, m => sent.push(m), 5);
		t.add(3, { datapointId: 1, label: "t", unit: null, value: -1, ts: 0 });
		await sleep(20);
		// 7 points of one datapoint (fewer than twice the limit: trimmed only at the flush), 12 of another.
		for (let i = 0; i < 7; i++) t.add(3, { datapointId: 1, label: "t", unit: null, value: i, ts: 10 + i });
		for (let i = 0; i < 12; i++) t.add(3, { datapointId: 2, label: "h", unit: null, value: 100 + i, ts: 10 + i });
		await sleep(100);
		expect(sent).toHaveLength(2);
		const data = sent[1][0].data as { readings: { datapointId: number; value: number }[]; coalesced: number };
		expect(data.readings.filter(r => r.datapointId === 1).map(r => r.value)).toEqual([2, 3, 4, 5, 6]);
		expect(data.readings.filter(r => r.datapointId === 2).map(r => r.value)).toEqual([107, 108, 109, 110, 111]);
		expect(data.coalesced).toBe(2 + 7);
		expect(t.coalesced).toBe(9);
	});

	it("keeps the newest points by time when they arrive out of order", async () => {
		const sent: LiveMessage[][] = [];
		t = new RoomThrottle(60, m => sent.push(m), 5);
		t.add(4, { datapointId: 1, label: "t", unit: null, value: -1, ts: 0 });
		await sleep(20);
		// The newest five first, then twelve older ones (a batch is not sorted when no rule needs it).
		for (let i = 0; i < 5; i++) t.add(4, { datapointId: 1, label: "t", unit: null, value: 100 + i, ts: 100 + i });
		for (let i = 0; i < 12; i++) t.add(4, { datapointId: 1, label: "t", unit: null, value: i, ts: 10 + i });
		await sleep(100);
		const data = sent[1][0].data as { readings: { value: number }[]; coalesced: number };
		expect(data.readings.map(r => r.value)).toEqual([100, 101, 102, 103, 104]);
		expect(data.coalesced).toBe(12);
	});

	it("keeps rooms apart: a flood in one room does not delay another", async () => {
		const sent: LiveMessage[][] = [];
		t = new RoomThrottle(200, m => sent.push(m));
		for (let i = 0; i < 100; i++) t.add(1, { datapointId: 1, label: "a", unit: null, value: i, ts: i });
		t.add(2, { datapointId: 5, label: "b", unit: null, value: 42, ts: 1 });
		await sleep(30);
		const rooms = sent
			.flat()
			.map(m => m.room)
			.sort();
		expect(rooms).toEqual(["device:1", "device:2"]);
	});
});

describe("room names", () => {
	it("accepts device:<id> and alerts only", () => {
		expect(parseRoom("device:12")).toEqual({ kind: "device", deviceId: 12 });
		expect(parseRoom("alerts")).toEqual({ kind: "alerts" });
		expect(parseRoom("device:x")).toBeNull();
		expect(parseRoom("admin")).toBeNull();
		expect(parseRoom("device:1;2")).toBeNull();
	});
});
