/**
 * The batching core of the decoded_data sink (plain class, no Moleculer).
 *
 * Channel handlers `add()` their readings and wait: the promise resolves only after the
 * transaction holding them committed, so the channel acknowledges a message only once its
 * rows are stored. Rows are written at once when no write is running (there is nothing to
 * batch them with: waiting would only add latency), else when BATCH_SIZE are waiting or
 * FLUSH_INTERVAL_MS after the first one, whichever comes first, with at most `concurrency`
 * writes at a time. Under load the writes overlap and the rows arriving meanwhile make the
 * next write big; at a moderate rate nothing waits for the interval.
 *
 * When the database is down, the write is retried with exponential backoff (never given up
 * while running): the waiting handlers keep their channel messages unacknowledged, so the
 * backlog stays in the channel (JetStream's max_ack_pending bounds what is in memory), and
 * `keepAlive` tells the channel the messages are still being worked on.
 *
 * A write that fails for another reason (a row the database refuses) is retried a few times,
 * then handed to `onPoison` (the dead-letter table) so one bad batch cannot block the stream.
 */

import type { Row } from "../shared/pipeline/storage";
import { Backoff } from "../shared/retry";

export interface BatchSinkOptions {
	batchSize: number;
	flushMs: number;
	/** Most rows in one write when a backlog waits (default 5 × batchSize): bigger COPYs are cheaper per row. */
	maxWriteRows?: number;
	/** Writes running at once (default 2): the database works on one while the next is sent. */
	concurrency?: number;
	write: (rows: Row[]) => Promise<number>;
	/** True for errors worth waiting out (connection lost, server restarting). */
	isTransient: (err: unknown) => boolean;
	/** Rows the database refused after `maxPoisonAttempts` tries. */
	onPoison: (rows: Row[], err: unknown) => Promise<void>;
	onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
	/** True once the node is stopping: retries then end and the rows go back to the channel. */
	isStopping?: () => boolean;
	minBackoffMs?: number;
	maxBackoffMs?: number;
	maxPoisonAttempts?: number;
}

interface Entry {
	rows: Row[];
	resolve: () => void;
	reject: (err: Error) => void;
	keepAlive?: () => void;
}

export class SinkStoppedError extends Error {
	constructor() {
		super("sink stopped before the batch was stored; the channel will redeliver it");
		this.name = "SinkStoppedError";
	}
}

export interface BatchSinkStats {
	stored: number;
	duplicates: number;
	batches: number;
	retries: number;
	poisoned: number;
	pendingRows: number;
}

export class BatchSink {
	private queue: Entry[] = [];
	private queuedRows = 0;
	private timer: NodeJS.Timeout | null = null;
	/** Writes in progress (at most `concurrency`). */
	private running = new Set<Promise<void>>();
	private stopped = false;
	/** Ends the backoff waits of the writes now retrying (stop() calls them). */
	private wakers = new Set<() => void>();
	readonly stats: BatchSinkStats = { stored: 0, duplicates: 0, batches: 0, retries: 0, poisoned: 0, pendingRows: 0 };

	constructor(private readonly opts: BatchSinkOptions) {}

	/** Resolves when these rows are committed (or rejects with SinkStoppedError on stop). */
	add(rows: Row[], keepAlive?: () => void): Promise<void> {
		if (this.stopped) return Promise.reject(new SinkStoppedError());
		if (rows.length === 0) return Promise.resolve();
		return new Promise<void>((resolve, reject) => {
			this.queue.push({ rows, resolve, reject, keepAlive });
			this.queuedRows += rows.length;
			this.stats.pendingRows = this.queuedRows;
			this.schedule(this.queuedRows >= this.opts.batchSize || this.running.size === 0 ? 0 : this.opts.flushMs);
		});
	}

	/** Writes what is queued now (tests, shutdown with a live database). */
	async flush(): Promise<void> {
		while (!this.stopped && (this.queue.length > 0 || this.running.size > 0)) {
			this.schedule(0);
			await (this.running.size > 0 ? Promise.race(this.running) : new Promise(r => setTimeout(r, 1)));
		}
	}

	/**
	 * Stops: tries to write what is queued for up to `graceMs`, then rejects whatever is left
	 * (unacknowledged, so the channel redelivers it to another or the restarted sink).
	 */
	async stop(graceMs = 5000): Promise<void> {
		const deadline = Date.now() + graceMs;
		while ((this.running.size > 0 || this.queue.length > 0) && Date.now() < deadline) {
			this.schedule(0);
			await Promise.race([...this.running, new Promise(r => setTimeout(r, 100))]);
		}
		this.stopped = true;
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		for (const wake of this.wakers) wake();
		const left = this.queue.splice(0);
		this.queuedRows = 0;
		for (const e of left) e.reject(new SinkStoppedError());
	}

	private schedule(delay: number): void {
		if (this.stopped || this.running.size >= (this.opts.concurrency ?? 2) || this.queue.length === 0) return;
		if (this.timer && delay > 0) return;
		if (this.timer) clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			this.timer = null;
			if (this.stopped || this.queue.length === 0) return;
			const p: Promise<void> = this.drain().finally(() => {
				this.running.delete(p);
				this.schedule(
					this.queuedRows >= this.opts.batchSize || this.running.size === 0 ? 0 : this.opts.flushMs
				);
			});
			this.running.add(p);
			// A full batch is still waiting: start a second write alongside this one.
			if (this.queuedRows >= this.opts.batchSize) this.schedule(0);
		}, delay);
	}

	/** Takes whole entries up to maxWriteRows rows (at least one entry) and writes them until committed. */
	private async drain(): Promise<void> {
		if (this.queue.length === 0) return;
		const taken: Entry[] = [];
		let n = 0;
		const max = this.opts.maxWriteRows ?? this.opts.batchSize * 5;
		while (this.queue.length > 0 && (taken.length === 0 || n + this.queue[0].rows.length <= max)) {
			const e = this.queue.shift()!;
			taken.push(e);
			n += e.rows.length;
		}
		this.queuedRows -= n;
		this.stats.pendingRows = this.queuedRows;
		const rows = taken.length === 1 ? taken[0].rows : taken.flatMap(e => e.rows);
		// The delays are the project's one policy (shared/retry.ts), but not its retry(): exponential-backoff's
		// wait cannot be cut short, and stop() must end it at once so the waiting handlers are rejected (and
		// their messages redelivered) while the channel still runs, instead of up to maxBackoffMs later.
		const backoff = new Backoff(this.opts.minBackoffMs ?? 100, this.opts.maxBackoffMs ?? 5000);
		let otherFailures = 0;
		for (let attempt = 1; ; attempt++) {
			try {
				const inserted = await this.opts.write(rows);
				this.stats.stored += inserted;
				this.stats.duplicates += rows.length - inserted;
				this.stats.batches++;
				for (const e of taken) e.resolve();
				return;
			} catch (writeErr) {
				// What is retried and reported: the write's error, or the dead-letter write's when that failed too.
				let err = writeErr;
				if (!this.opts.isTransient(err) && ++otherFailures >= (this.opts.maxPoisonAttempts ?? 3)) {
					try {
						await this.opts.onPoison(rows, err);
						this.stats.poisoned += rows.length;
						for (const e of taken) e.resolve();
						return;
					} catch (dlErr) {
						err = dlErr;
					}
				}
				if (this.stopped || this.opts.isStopping?.()) {
					for (const e of taken) e.reject(new SinkStoppedError());
					return;
				}
				const delay = backoff.next();
				this.stats.retries++;
				this.opts.onRetry?.(err, attempt, delay);
				for (const e of taken) e.keepAlive?.();
				await this.pause(delay);
				if (this.stopped) {
					for (const e of taken) e.reject(new SinkStoppedError());
					return;
				}
			}
		}
	}

	/** Waits `ms`, or less when stop() wakes it. */
	private pause(ms: number): Promise<void> {
		return new Promise<void>(resolve => {
			const wake = () => {
				clearTimeout(timer);
				this.wakers.delete(wake);
				resolve();
			};
			const timer = setTimeout(wake, ms);
			this.wakers.add(wake);
		});
	}
}
