/**
 * Batches items onto a durable channel: one channel message per batch, flushed when it holds
 * `maxItems` or `flushMs` after its first item, whichever comes first.
 *
 * Durable channels acknowledge per message, so one reading per message caps throughput at a
 * few thousand per second (docs/architecture.md, Channels); a batch of 1,000 goes two orders of magnitude faster.
 *
 * Outages (NATS or the channel adapter down): a channel send rejects. The publisher has ONE
 * send loop, so no second flush can await a send that is already failing (that was an
 * unhandled rejection that ended the node); a failed batch goes back to the front of the
 * buffer and is retried with backoff (100 ms … 2 s) until the channel takes it again, without a
 * restart. Memory is bounded by `maxBuffered` with an explicit policy: the oldest items are
 * dropped only when that bound is hit, counted (`stats.dropped`) and reported (`onDrop`).
 * Producers that can wait (the MQTT ingest) await `push()`: it resolves once the item's batch
 * is on the channel, and the ingest acknowledges the MQTT message only then, so the broker
 * itself holds the backlog (block the producer). While the last send failed, the publisher's
 * readiness check (`registerHealth`) fails: `/ready` says degraded.
 */
import type { ServiceBroker } from "moleculer";
import { registerHealthCheck, unregisterHealthCheck } from "./health";
import { Backoff } from "../services/shared/retry";

export interface BatchPublisherOptions {
	/** Field of the channel payload that holds the batch: `readings` → { readings: [...] }. */
	field: string;
	maxItems?: number;
	flushMs?: number;
	/** Items kept while the channel is unavailable; the oldest are dropped beyond it. */
	maxBuffered?: number;
	/** Called when items are dropped (count, reason). */
	onDrop?: (count: number, reason: string) => void;
	/** Longest wait between two retries of a failed send (ms). */
	maxRetryDelayMs?: number;
}

export interface BatchPublisherStats {
	published: number;
	batches: number;
	dropped: number;
	pending: number;
	failures: number;
	/** The last send failed and nothing has been sent since: the channel is down for us. */
	degraded: boolean;
	lastError: string | null;
}

/** Settles once the item is on the channel (true) or was dropped (false); never rejects. */
type Settle = (published: boolean) => void;

type SendToChannel = (name: string, payload: unknown, opts?: unknown) => Promise<unknown>;

export class BatchPublisher<T> {
	private buffer: T[] = [];
	/** Parallel to `buffer`: who waits for each item (undefined: nobody). */
	private waiters: (Settle | undefined)[] = [];
	private timer: NodeJS.Timeout | null = null;
	private loop: Promise<void> | null = null;
	private readonly retryBackoff: Backoff;
	private closed = false;
	private healthName: string | null = null;
	readonly stats: BatchPublisherStats = { published: 0, batches: 0, dropped: 0, pending: 0, failures: 0, degraded: false, lastError: null };
	private readonly maxItems: number;
	private readonly flushMs: number;
	private readonly maxBuffered: number;

	constructor(
		private readonly broker: ServiceBroker,
		private readonly channel: string,
		private readonly opts: BatchPublisherOptions
	) {
		this.maxItems = opts.maxItems ?? 1000;
		this.flushMs = opts.flushMs ?? 20;
		this.maxBuffered = opts.maxBuffered ?? 100_000;
		this.retryBackoff = new Backoff(100, opts.maxRetryDelayMs ?? 2000);
	}

	/** `/ready` of this node fails (check `name`) while the channel refuses this publisher's batches. */
	registerHealth(name = `publish:${this.channel}`): this {
		this.healthName = name;
		registerHealthCheck(this.broker, name, async () => {
			if (this.stats.degraded) throw new Error(`${this.channel} refuses batches (${this.stats.lastError}); ${this.stats.pending} items waiting`);
			return { pending: this.stats.pending };
		});
		return this;
	}

	/**
	 * Buffers items. The promise resolves true once they are on the channel, false if they
	 * were dropped (bound hit, or closed with the channel down); it never rejects, so an
	 * un-awaited push cannot become an unhandled rejection.
	 */
	push(...items: T[]): Promise<boolean> {
		if (this.closed) throw new Error(`publisher for ${this.channel} is closed`);
		if (items.length === 0) return Promise.resolve(true);
		let remaining = items.length;
		let allPublished = true;
		const done = new Promise<boolean>(resolve => {
			const settle: Settle = ok => {
				if (!ok) allPublished = false;
				if (--remaining === 0) resolve(allPublished);
			};
			for (const item of items) {
				this.buffer.push(item);
				this.waiters.push(settle);
			}
		});
		this.trim();
		if (this.buffer.length >= this.maxItems) this.kick(0);
		else this.kick(this.flushMs);
		return done;
	}

	/** Sends everything buffered now; resolves when the buffer is empty or a send failed. Never rejects. */
	flush(): Promise<void> {
		// One loop at a time: a second caller joins the running one instead of racing it.
		this.loop ??= this.drain().finally(() => {
			this.loop = null;
		});
		return this.loop;
	}

	/** Flushes what is left (bounded by `timeoutMs`) and stops. */
	async close(timeoutMs = 5000): Promise<void> {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		const deadline = Date.now() + timeoutMs;
		while (this.buffer.length > 0 && Date.now() < deadline) {
			await this.flush();
			if (this.buffer.length > 0) await new Promise(r => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
		}
		this.closed = true;
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		if (this.loop) await this.loop;
		if (this.buffer.length > 0) {
			const n = this.buffer.length;
			this.stats.dropped += n;
			this.settle(this.waiters.splice(0), false);
			this.buffer = [];
			this.opts.onDrop?.(n, `${this.channel} unavailable at shutdown`);
		}
		this.stats.pending = 0;
		if (this.healthName) unregisterHealthCheck(this.broker, this.healthName);
	}

	private async drain(): Promise<void> {
		while (this.buffer.length > 0) {
			// The batch leaves the buffer while in flight and goes back to its front if the send fails.
			const batch = this.buffer.splice(0, this.maxItems);
			const waiting = this.waiters.splice(0, batch.length);
			const ok = await this.send(batch);
			if (!ok) {
				this.buffer.unshift(...batch);
				this.waiters.unshift(...waiting);
				this.trim();
				return;
			}
			this.settle(waiting, true);
		}
	}

	private settle(waiting: (Settle | undefined)[], ok: boolean): void {
		for (const w of waiting) w?.(ok);
	}

	/** Keeps the buffer bounded: the oldest items go first, counted. */
	private trim(): void {
		const excess = this.buffer.length - this.maxBuffered;
		if (excess > 0) {
			this.buffer.splice(0, excess);
			this.settle(this.waiters.splice(0, excess), false);
			this.stats.dropped += excess;
			this.opts.onDrop?.(excess, `buffer full (${this.maxBuffered} items) while ${this.channel} is unavailable`);
		}
		this.stats.pending = this.buffer.length;
	}

	private kick(delay: number): void {
		if (this.closed) return;
		if (this.timer && delay > 0) return;
		if (this.timer) clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			this.timer = null;
			void this.flush().then(() => {
				// A failed send leaves items behind: try again later, backing off.
				if (this.buffer.length > 0 && !this.closed) {
					this.kick(this.retryBackoff.next());
				} else this.retryBackoff.reset();
			});
		}, delay);
	}

	/** One channel send; true when the channel took the batch. Never throws. */
	private async send(batch: T[]): Promise<boolean> {
		const send = (this.broker as unknown as { sendToChannel: SendToChannel }).sendToChannel;
		try {
			await send.call(this.broker, this.channel, { [this.opts.field]: batch });
		} catch (err) {
			this.stats.failures++;
			this.stats.lastError = (err as Error)?.message ?? String(err);
			if (!this.stats.degraded || this.stats.failures % 100 === 0) {
				this.broker.logger.warn(`channel ${this.channel}: send failed (${this.stats.lastError}); ${this.buffer.length + batch.length} items kept for retry`);
			}
			this.stats.degraded = true;
			return false;
		}
		if (this.stats.degraded) this.broker.logger.info(`channel ${this.channel}: sending again after ${this.stats.failures} failed sends`);
		this.stats.degraded = false;
		this.stats.published += batch.length;
		this.stats.batches++;
		this.stats.pending = this.buffer.length;
		return true;
	}
}
