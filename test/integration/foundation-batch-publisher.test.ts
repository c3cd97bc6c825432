/** BatchPublisher on a real broker and channel adapter (the in-process one; delivery is not what is tested here). */
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { BatchPublisher } from "../../mixins/batch-publisher";
import { runHealthChecks } from "../../mixins/health";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";

let broker: ServiceBroker;
afterEach(async () => broker?.stop());

function brokerWithConsumer(batches: number[][]) {
	broker = createTestBroker({
		namespace: uniqueNamespace("batch"),
		services: [
			{
				name: "c",
				channels: {
					"test.items": { group: "c", handler: (p: { items: number[] }) => void batches.push(p.items) }
				}
			} as any
		]
	});
	return broker;
}

describe("BatchPublisher", () => {
	it("sends full batches at once and the rest after the flush interval, in order", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		const pub = new BatchPublisher<number>(broker, "test.items", { field: "items", maxItems: 100, flushMs: 30 });
		for (let i = 0; i < 250; i++) pub.push(i);
		await waitFor(() => batches.flat().length === 250, 5000, "250 items");
		expect(batches.map(b => b.length)).toEqual([100, 100, 50]);
		expect(batches.flat()).toEqual([...Array(250).keys()]);
		expect(pub.stats).toMatchObject({ published: 250, batches: 3, dropped: 0, pending: 0 });
	});

	it("closes a batch at maxBytes of items (sizeOf), whatever maxItems allows", async () => {
		const batches: string[][] = [];
		broker = createTestBroker({
			namespace: uniqueNamespace("batch"),
			services: [
				{
					name: "c",
					channels: {
						"test.items": { group: "c", handler: (p: { items: string[] }) => void batches.push(p.items) }
					}
				} as any
			]
		});
		await broker.start();
		const pub = new BatchPublisher<string>(broker, "test.items", {
			field: "items",
			maxItems: 1000,
			maxBytes: 100,
			sizeOf: s => s.length,
			flushMs: 30
		});
		// 25 items of 10 bytes: batches of 10 (100 bytes), then the remaining 5 after the flush interval.
		const pushes = Array.from({ length: 25 }, (_, i) => pub.push(String(i).padStart(10, "x")));
		expect(await Promise.all(pushes)).toEqual(Array(25).fill(true));
		expect(batches.map(b => b.length)).toEqual([10, 10, 5]);
		expect(batches.flat()).toEqual(Array.from({ length: 25 }, (_, i) => String(i).padStart(10, "x")));
	});

	it("single pushes of one batch share one promise; it resolves once their batch is on the channel", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		const realSend = (broker as any).sendToChannel;
		let release!: () => void;
		const gate = new Promise<void>(r => (release = r));
		(broker as any).sendToChannel = async (...args: unknown[]) => {
			await gate;
			return realSend.apply(broker, args);
		};
		const pub = new BatchPublisher<number>(broker, "test.items", { field: "items", maxItems: 3, flushMs: 5 });
		const p = [0, 1, 2, 3].map(i => pub.push(i));
		// 0..2 filled a batch: one group; 3 starts the next.
		expect(p[0]).toBe(p[1]);
		expect(p[1]).toBe(p[2]);
		expect(p[3]).not.toBe(p[2]);
		let settled = false;
		void p[0].then(() => (settled = true));
		await new Promise(r => setTimeout(r, 50));
		expect(settled).toBe(false);
		release();
		expect(await Promise.all(p)).toEqual([true, true, true, true]);
		expect(batches).toEqual([[0, 1, 2], [3]]);
	});

	it("keeps items while the channel refuses them, then sends them (fault injected: sendToChannel)", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		const realSend = (broker as any).sendToChannel;
		let refuse = true;
		(broker as any).sendToChannel = (...args: unknown[]) =>
			refuse ? Promise.reject(new Error("channel down")) : realSend.apply(broker, args);
		const pub = new BatchPublisher<number>(broker, "test.items", { field: "items", maxItems: 10, flushMs: 5 });
		for (let i = 0; i < 25; i++) pub.push(i);
		await waitFor(() => pub.stats.failures >= 2, 5000, "failed sends");
		expect(batches).toEqual([]);
		expect(pub.stats.pending).toBe(25);
		refuse = false;
		await waitFor(() => batches.flat().length === 25, 10_000, "the kept items");
		expect(batches.flat()).toEqual([...Array(25).keys()]);
		expect(pub.stats.dropped).toBe(0);
	});

	it("bounds its buffer and counts what it drops", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		(broker as any).sendToChannel = () => Promise.reject(new Error("channel down"));
		const drops: Array<[number, string]> = [];
		const pub = new BatchPublisher<number>(broker, "test.items", {
			field: "items",
			maxItems: 10,
			flushMs: 5,
			maxBuffered: 50,
			onDrop: (n, why) => drops.push([n, why])
		});
		for (let i = 0; i < 80; i++) pub.push(i);
		// Full at the 51st: the oldest tenth of the bound (5) and the one over it go at once, so
		// a push past the bound costs one splice per tenth, not one per push.
		expect(drops.map(([n]) => n)).toEqual([6, 6, 6, 6, 6]);
		expect(pub.stats.dropped).toBe(30);
		expect(pub.stats.pending).toBe(50);
		expect(drops[0][1]).toMatch(/buffer full/);
		await pub.close(100);
		expect(pub.stats.dropped).toBe(80);
		expect(() => pub.push(1)).toThrow(/closed/);
	});

	it("concurrent flushes in an outage share one send loop: no rejection, /ready degraded, resumes", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		const realSend = (broker as any).sendToChannel;
		let refuse = true;
		let calls = 0;
		// A send that fails slowly, as a JetStream publish does while NATS is down (fault injected).
		(broker as any).sendToChannel = (...args: unknown[]) => {
			calls++;
			return refuse
				? new Promise((_, reject) => setTimeout(() => reject(new Error("TIMEOUT")), 30))
				: realSend.apply(broker, args);
		};
		const pub = new BatchPublisher<number>(broker, "test.items", {
			field: "items",
			maxItems: 10,
			flushMs: 5,
			maxRetryDelayMs: 50
		}).registerHealth("publish:test");
		const acks = Array.from({ length: 25 }, (_, i) => pub.push(i));
		await Promise.all([pub.flush(), pub.flush(), pub.flush()]);
		expect(calls).toBe(1);
		await waitFor(async () => !(await runHealthChecks(broker)).ready, 5000, "/ready degraded");
		expect((await runHealthChecks(broker)).checks["publish:test"].error).toMatch(/TIMEOUT/);
		refuse = false;
		expect(await Promise.all(acks)).toEqual(Array(25).fill(true));
		expect(batches.flat()).toEqual([...Array(25).keys()]);
		expect((await runHealthChecks(broker)).ready).toBe(true);
		expect(pub.stats).toMatchObject({ published: 25, dropped: 0, degraded: false });
	});

	it("a push resolves false when its items are dropped at the bound", async () => {
		const batches: number[][] = [];
		await brokerWithConsumer(batches).start();
		(broker as any).sendToChannel = () => Promise.reject(new Error("channel down"));
		const pub = new BatchPublisher<number>(broker, "test.items", {
			field: "items",
			maxItems: 10,
			flushMs: 5,
			maxBuffered: 5
		});
		const first = pub.push(1, 2, 3);
		const second = pub.push(4, 5, 6, 7);
		const third = pub.push(8, 9);
		// Over the bound of 5 twice: each time what is over it and the oldest tenth (1) go: 1 … 3, then 4 and 5.
		expect(await first).toBe(false);
		expect(pub.stats.dropped).toBe(5);
		expect(pub.stats.pending).toBe(4);
		await pub.close(50);
		expect(await second).toBe(false);
		expect(await third).toBe(false);
	});
});
