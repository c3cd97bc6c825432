/**
 * Batches items onto a durable channel: one channel message per batch, flushed when it holds
 * `maxItems` or `flushMs` after its first item, whichever comes first.
 *
 * Durable channels acknowledge per message, so one reading per message caps throughput at a
 * few thousand per second (DESIGN.md); a batch of 1,000 goes two orders of magnitude faster.
 * When the channel cannot take a batch (broker down), the items stay buffered and the send is
 * retried with backoff; the buffer is bounded (`maxBuffered`), and what it has to drop is
 * counted and reported, never silent.
 */
import type { ServiceBroker } from "moleculer";

export interface BatchPublisherOptions {
	/** Field of the channel payload that holds the batch: `readings` → { readings: [...] }. */
	field: string;
	maxItems?: number;
	flushMs?: number;
	/** Items kept while the channel is unavailable; the oldest are dropped beyond it. */
	maxBuffered?: number;
	/** Called when items are dropped (count, reason). */
	onDrop?: (count: number, reason: string) => void;
}

export interface BatchPublisherStats {
	published: number;
	batches: number;
	dropped: number;
	pending: number;
	failures: number;
}

type SendToChannel = (name: string, payload: unknown, opts?: unknown) => Promise<unknown>;

export class BatchPublisher<T> {
	private buffer: T[] = [];
	private timer: NodeJS.Timeout | null = null;
	private sending: Promise<void> | null = null;
	private retryDelay = 0;
	private closed = false;
	readonly stats: BatchPublisherStats = { published: 0, batches: 0, dropped: 0, pending: 0, failures: 0 };
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
	}

	push(...items: T[]): void {
		if (this.closed) throw new Error(`publisher for ${this.channel} is closed`);
		this.buffer.push(...items);
		this.trim();
		if (this.buffer.length >= this.maxItems) this.kick(0);
		else this.kick(this.flushMs);
	}

	/** Sends everything buffered now; resolves when the buffer is empty or a send failed. */
	async flush(): Promise<void> {
		while (this.buffer.length > 0) {
			if (this.sending) {
				await this.sending;
				continue;
			}
			// The batch leaves the buffer while in flight and goes back to its front if the send fails.
			const batch = this.buffer.splice(0, this.maxItems);
			this.sending = this.send(batch);
			const ok = await this.sending.then(
				() => true,
				() => false
			);
			this.sending = null;
			if (!ok) {
				this.buffer.unshift(...batch);
				this.trim();
				return;
			}
		}
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
		if (this.buffer.length > 0) {
			this.stats.dropped += this.buffer.length;
			this.opts.onDrop?.(this.buffer.length, `${this.channel} unavailable at shutdown`);
			this.buffer = [];
		}
		this.stats.pending = 0;
	}

	/** Keeps the buffer bounded: the oldest items go first, counted. */
	private trim(): void {
		const excess = this.buffer.length - this.maxBuffered;
		if (excess > 0) {
			this.buffer.splice(0, excess);
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
				// A failed send leaves items behind: try again later, backing off to 5 s.
				if (this.buffer.length > 0 && !this.closed) {
					this.retryDelay = this.retryDelay ? Math.min(this.retryDelay * 2, 5000) : 100;
					this.kick(this.retryDelay);
				} else this.retryDelay = 0;
			});
		}, delay);
	}

	private async send(batch: T[]): Promise<void> {
		const send = (this.broker as unknown as { sendToChannel: SendToChannel }).sendToChannel;
		try {
			await send.call(this.broker, this.channel, { [this.opts.field]: batch });
		} catch (err) {
			this.stats.failures++;
			if (this.stats.failures === 1 || this.stats.failures % 100 === 0) {
				this.broker.logger.warn(`channel ${this.channel}: send failed (${(err as Error).message}); ${this.buffer.length} items kept for retry`);
			}
			throw err;
		}
		this.stats.published += batch.length;
		this.stats.batches++;
		this.stats.pending = this.buffer.length;
	}
}
