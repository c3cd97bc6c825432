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
 * restart. Memory is bounded by `maxBuffered` with an explicit policy: when that bound is hit,
 * the oldest tenth of it is dropped (one splice and one report per tenth, not per item), counted
 * (`stats.dropped`) and reported (`onDrop`).
 * Producers that can wait (the MQTT ingest) await `push()`: it resolves once the item's batch
 * is on the channel, and the ingest acknowledges the MQTT message only then, so the broker
 * itself holds the backlog (block the producer). While the last send failed, the publisher's
 * readiness check (`registerHealth`) fails: `/ready` says degraded.
 */
import type { ServiceBroker } from "moleculer";
import { registerHealthCheck, unregisterHealthCheck } from "./health";
import { Backoff } from "../services/shared/retry";
import { errorMessage } from "../services/shared/error-message";

export interface BatchPublisherOptions<T = unknown> {
	/** Field of the channel payload that holds the batch: `readings` → { readings: [...] }. */
	field: string;
	maxItems?: number;
	flushMs?: number;
	/** Items kept while the channel is unavailable; beyond it the oldest tenth of it is dropped. */
	maxBuffered?: number;
	/** Called when items are dropped (count, reason). */
	onDrop?: (count: number, reason: string) => void;
	/** Longest wait between two retries of a failed send (ms). */
	maxRetryDelayMs?: number;
	/**
	 * Bytes per channel message (with `sizeOf`): a batch is sent when it holds `maxItems` items
	 * or `maxBytes` of them, whichever comes first, so many small items share one message
	 * while big ones still stay under the transport's message limit.
	 */
	maxBytes?: number;
	/** Estimated serialized size of an item (bytes); needed for `maxBytes`. */
	sizeOf?: (item: T) => number;
	/** The channel payload of a batch, instead of `{ [field]: batch }` (a compact shape of the channel's contract). */
	encode?: (batch: T[]) => unknown;
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

/**
 * The waiters of the items pushed one by one since the last batch boundary share one promise
 * and one settle function: a promise and a closure per item (per MQTT message at 30,000 a
 * second) was the ingest's largest source of garbage.
 */
interface Group {
	promise: Promise<boolean>;
	settle: Settle;
	/** Items pushed into this group (it settles when all of them are). */
	count: number;
	open: boolean;
}

export class BatchPublisher<T> {
	private buffer: T[] = [];
	/** Parallel to `buffer`: who waits for each item (undefined: nobody). */
	private waiters: (Settle | undefined)[] = [];
	/** Parallel to `buffer` when `maxBytes` is set: each item's size. */
	private sizes: number[] = [];
	private bufferedBytes = 0;
	/** The group single pushes join until the next batch boundary. */
	private group: Group | null = null;
	private groupItems = 0;
	private groupBytes = 0;
	private timer: NodeJS.Timeout | null = null;
	/**
	 * Delay the pending timer was set with: while a full batch waits for a 0 ms timer (or for the
	 * running send loop), further pushes leave it alone instead of re-arming a timer each (that was
	 * a clearTimeout + setTimeout per MQTT message during a backlog).
	 */
	private timerDue = -1;
	private loop: Promise<void> | null = null;
	private readonly retryBackoff: Backoff;
	private closed = false;
	private healthName: string | null = null;
	readonly stats: BatchPublisherStats = {
		published: 0,
		batches: 0,
		dropped: 0,
		pending: 0,
		failures: 0,
		degraded: false,
		lastError: null
	};
	private readonly maxItems: number;
	private readonly flushMs: number;
	private readonly maxBuffered: number;
	private readonly maxBytes: number;

	constructor(
		private readonly broker: ServiceBroker,
		private readonly channel: string,
		private readonly opts: BatchPublisherOptions<T>
	) {
		this.maxItems = opts.maxItems ?? 1000;
		this.flushMs = opts.flushMs ?? 20;
		this.maxBuffered = opts.maxBuffered ?? 100_000;
		this.maxBytes = opts.sizeOf ? (opts.maxBytes ?? Infinity) : Infinity;
		this.retryBackoff = new Backoff(100, opts.maxRetryDelayMs ?? 2000);
	}

	/** `/ready` of this node fails (check `name`) while the channel refuses this publisher's batches. */
	registerHealth(name = `publish:${this.channel}`): this {
		this.healthName = name;
		registerHealthCheck(this.broker, name, async () => {
			if (this.stats.degraded)
				throw new Error(
					`${this.channel} refuses batches (${this.stats.lastError}); ${this.stats.pending} items waiting`
				);
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
		if (items.length === 1) return this.pushOne(items[0]);
		let remaining = items.length;
		let allPublished = true;
		const done = new Promise<boolean>(resolve => {
			const settle: Settle = ok => {
				if (!ok) allPublished = false;
				if (--remaining === 0) resolve(allPublished);
			};
			for (const item of items) this.append(item, settle);
		});
		this.closeGroup();
		this.trim();
		this.kickForSize();
		return done;
	}

	/**
	 * One item, joining the open group: its promise settles when every item of the group is on
	 * the channel (true) or once any of them was dropped (false). A group closes at a batch
	 * boundary (`maxItems` or `maxBytes` reached) and when a batch leaves, so it rarely spans
	 * two channel messages.
	 */
	private pushOne(item: T): Promise<boolean> {
		let g = this.group;
		if (!g) {
			let resolve!: (ok: boolean) => void;
			const promise = new Promise<boolean>(r => (resolve = r));
			let allPublished = true;
			const group: Group = {
				promise,
				count: 0,
				open: true,
				settle: ok => {
					if (!ok) allPublished = false;
					if (--group.count === 0 && !group.open) resolve(allPublished);
				}
			};
			g = this.group = group;
		}
		g.count++;
		const size = this.append(item, g.settle);
		this.groupItems++;
		this.groupBytes += size;
		if (this.groupItems >= this.maxItems || this.groupBytes >= this.maxBytes) this.closeGroup();
		this.trim();
		this.kickForSize();
		return g.promise;
	}

	/** Later single pushes start a new group; this one settles once its items are. */
	private closeGroup(): void {
		const g = this.group;
		this.group = null;
		this.groupItems = 0;
		this.groupBytes = 0;
		if (g) {
			g.open = false;
			// Every item already settled (dropped while the group was open): settle the promise now.
			if (g.count === 0) {
				g.count = 1;
				g.settle(true);
			}
		}
	}

	private append(item: T, settle: Settle): number {
		this.buffer.push(item);
		this.waiters.push(settle);
		if (this.maxBytes === Infinity) return 0;
		const size = this.opts.sizeOf!(item);
		this.sizes.push(size);
		this.bufferedBytes += size;
		return size;
	}

	private kickForSize(): void {
		if (this.buffer.length >= this.maxItems || this.bufferedBytes >= this.maxBytes) this.kick(0);
		else this.kick(this.flushMs);
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
			if (this.buffer.length > 0)
				await new Promise(r => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
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
			this.sizes = [];
			this.bufferedBytes = 0;
			this.closeGroup();
			this.opts.onDrop?.(n, `${this.channel} unavailable at shutdown`);
		}
		this.stats.pending = 0;
		if (this.healthName) unregisterHealthCheck(this.broker, this.healthName);
	}

	private async drain(): Promise<void> {
		while (this.buffer.length > 0) {
			// The batch leaves the buffer while in flight and goes back to its front if the send fails.
			// A batch leaving ends the open group: its items are in this batch or the next one.
			this.closeGroup();
			const n = this.batchLength();
			const batch = this.buffer.splice(0, n);
			const waiting = this.waiters.splice(0, n);
			const sizes = this.maxBytes === Infinity ? null : this.sizes.splice(0, n);
			const bytes = sizes ? sizes.reduce((a, b) => a + b, 0) : 0;
			this.bufferedBytes -= bytes;
			const ok = await this.send(batch);
			if (!ok) {
				this.buffer.unshift(...batch);
				this.waiters.unshift(...waiting);
				if (sizes) {
					this.sizes.unshift(...sizes);
					this.bufferedBytes += bytes;
				}
				this.trim();
				return;
			}
			this.settle(waiting, true);
		}
	}

	/** Items of the next batch: up to `maxItems`, and up to `maxBytes` (at least one item). */
	private batchLength(): number {
		const n = Math.min(this.maxItems, this.buffer.length);
		if (this.maxBytes === Infinity) return n;
		let bytes = 0;
		for (let i = 0; i < n; i++) {
			bytes += this.sizes[i];
			if (bytes > this.maxBytes) return Math.max(1, i);
		}
		return n;
	}

	private settle(waiting: (Settle | undefined)[], ok: boolean): void {
		for (const w of waiting) w?.(ok);
	}

	/** Keeps the buffer bounded: the oldest items go first, counted. */
	private trim(): void {
		const excess = this.buffer.length - this.maxBuffered;
		if (excess > 0) {
			// The oldest tenth of the bound goes at once, not one item per push: a splice at the front
			// moves the whole buffer, so once full every push cost O(bound) and a report (an ingest
			// taking 36,000 MQTT messages a second spent 68 % of its time here, and logged each one).
			const n = Math.min(this.buffer.length, excess + Math.ceil(this.maxBuffered / 10));
			this.buffer.splice(0, n);
			if (this.maxBytes !== Infinity) this.bufferedBytes -= this.sizes.splice(0, n).reduce((a, b) => a + b, 0);
			this.settle(this.waiters.splice(0, n), false);
			this.stats.dropped += n;
			this.opts.onDrop?.(n, `buffer full (${this.maxBuffered} items) while ${this.channel} is unavailable`);
		}
		this.stats.pending = this.buffer.length;
	}

	private kick(delay: number): void {
		if (this.closed) return;
		if (this.timer && (delay > 0 || this.timerDue === 0)) return;
		// A send loop is running: it takes what is buffered before it ends, then `kick` runs again.
		if (this.loop && delay === 0) return;
		if (this.timer) clearTimeout(this.timer);
		this.timerDue = delay;
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
		try {
			const payload = this.opts.encode ? this.opts.encode(batch) : { [this.opts.field]: batch };
			await this.broker.sendToChannel(this.channel, payload);
		} catch (err) {
			this.stats.failures++;
			this.stats.lastError = errorMessage(err);
			if (!this.stats.degraded || this.stats.failures % 100 === 0) {
				this.broker.logger.warn(
					`channel ${this.channel}: send failed (${this.stats.lastError}); ` +
						`${this.buffer.length + batch.length} items kept for retry`
				);
			}
			this.stats.degraded = true;
			return false;
		}
		if (this.stats.degraded)
			this.broker.logger.info(`channel ${this.channel}: sending again after ${this.stats.failures} failed sends`);
		this.stats.degraded = false;
		this.stats.published += batch.length;
		this.stats.batches++;
		this.stats.pending = this.buffer.length;
		return true;
	}
}
