/**
 * The batching core of the sink with an in-memory `write` function (the real COPY path is
 * covered by the integration tests against PostgreSQL).
 */
import { describe, expect, it } from "vitest";
import { BatchSink, SinkStoppedError } from "../../services/pipeline-sink/sink";
import type { Row } from "../../services/shared/pipeline/storage";

const rows = (n: number, from = 0): Row[] =>
	Array.from({ length: n }, (_, i) => ({ ts: from + i, deviceId: 1, datapointId: 1, value: i }));

function transient(): Error {
	return Object.assign(new Error("Connection terminated unexpectedly"), { code: "ECONNRESET" });
}

function sinkWith(
	write: (r: Row[]) => Promise<number>,
	extra: Partial<ConstructorParameters<typeof BatchSink>[0]> = {}
) {
	const poisoned: Row[][] = [];
	const sink = new BatchSink({
		batchSize: 100,
		flushMs: 20,
		write,
		isTransient: err => (err as { code?: string }).code === "ECONNRESET",
		onPoison: async r => void poisoned.push(r),
		minBackoffMs: 5,
		maxBackoffMs: 20,
		...extra
	});
	return { sink, poisoned };
}

describe("pipeline BatchSink", () => {
	it("writes a full batch at once, a partial one at once when idle, else with the next write", async () => {
		const writes: number[] = [];
		let release!: () => void;
		let gate: Promise<void> | null = null;
		// A flush interval longer than the test's timeout: whatever is written here was not waiting for it.
		const { sink } = sinkWith(
			async r => {
				writes.push(r.length);
				if (gate) await gate;
				return r.length;
			},
			{ flushMs: 60_000 }
		);
		await Promise.all([sink.add(rows(60)), sink.add(rows(40))]);
		expect(writes).toEqual([100]);
		// Idle: nothing to batch with, so no wait for the interval.
		await sink.add(rows(5));
		expect(writes).toEqual([100, 5]);
		// A write is running: small additions wait for it to end and go together.
		gate = new Promise<void>(r => (release = r));
		const running = sink.add(rows(100, 1000));
		await new Promise(r => setTimeout(r, 5));
		const later = Promise.all([sink.add(rows(3, 2000)), sink.add(rows(4, 3000))]);
		await new Promise(r => setTimeout(r, 5));
		expect(writes).toEqual([100, 5, 100]);
		release();
		await Promise.all([running, later]);
		expect(writes).toEqual([100, 5, 100, 7]);
		expect(sink.stats.stored).toBe(212);
	});

	it("resolves a handler only after its rows were written", async () => {
		let release!: () => void;
		const gate = new Promise<void>(r => (release = r));
		const { sink } = sinkWith(async r => (await gate, r.length));
		let done = false;
		const p = sink.add(rows(100)).then(() => (done = true));
		await new Promise(r => setTimeout(r, 50));
		expect(done).toBe(false);
		release();
		await p;
		expect(done).toBe(true);
	});

	it("retries a transient failure with backoff, keeps the handler waiting and the rows, stores once", async () => {
		let attempts = 0;
		let keepAlives = 0;
		const stored: Row[] = [];
		const { sink } = sinkWith(async r => {
			if (++attempts <= 4) throw transient();
			stored.push(...r);
			return r.length;
		});
		await sink.add(rows(100), () => keepAlives++);
		expect(attempts).toBe(5);
		expect(keepAlives).toBe(4);
		expect(stored).toHaveLength(100);
		expect(sink.stats.retries).toBe(4);
	});

	it("runs at most `concurrency` writes at once and takes a backlog in bigger writes", async () => {
		let active = 0;
		let peak = 0;
		const sizes: number[] = [];
		const { sink } = sinkWith(
			async r => {
				active++;
				peak = Math.max(peak, active);
				sizes.push(r.length);
				await new Promise(res => setTimeout(res, 20));
				active--;
				return r.length;
			},
			{ concurrency: 2, maxWriteRows: 300 }
		);
		await Promise.all(Array.from({ length: 20 }, (_, i) => sink.add(rows(100, i * 100))));
		expect(peak).toBe(2);
		expect(sizes.reduce((a, b) => a + b, 0)).toBe(2000);
		expect(Math.max(...sizes)).toBe(300);
		expect(sink.stats.stored).toBe(2000);
	});

	it("counts rows the database skipped as duplicates", async () => {
		const { sink } = sinkWith(async r => r.length - 10);
		await sink.add(rows(100));
		expect(sink.stats).toMatchObject({ stored: 90, duplicates: 10 });
	});

	it("hands a batch the database keeps refusing to onPoison instead of blocking the stream", async () => {
		const { sink, poisoned } = sinkWith(async () => {
			throw new Error("invalid input syntax for type timestamp");
		});
		await sink.add(rows(100));
		expect(poisoned).toHaveLength(1);
		expect(poisoned[0]).toHaveLength(100);
		expect(sink.stats.poisoned).toBe(100);
	});

	it("on stop with the database still down, rejects the waiting handlers (the channel redelivers)", async () => {
		const { sink } = sinkWith(async () => {
			throw transient();
		});
		const p = sink.add(rows(100));
		const outcome = p.then(
			() => "stored",
			err => err
		);
		await new Promise(r => setTimeout(r, 50));
		await sink.stop(100);
		expect(await outcome).toBeInstanceOf(SinkStoppedError);
		await expect(sink.add(rows(1))).rejects.toBeInstanceOf(SinkStoppedError);
	});

	it("gives up retrying once the node is stopping", async () => {
		let stopping = false;
		const { sink } = sinkWith(
			async () => {
				throw transient();
			},
			{ isStopping: () => stopping }
		);
		const outcome = sink.add(rows(100)).then(
			() => "stored",
			err => err
		);
		await new Promise(r => setTimeout(r, 30));
		stopping = true;
		expect(await outcome).toBeInstanceOf(SinkStoppedError);
	});
});
