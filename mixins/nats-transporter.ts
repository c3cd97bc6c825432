/**
 * Moleculer's NATS transporter, with the packets of one event-loop turn written to the socket
 * together.
 *
 * nats.js writes its outbound buffer in a microtask after the first publish into it; the
 * microtasks of many calls in flight interleave with that flush, so a node answering 16 calls
 * at once wrote several times per turn, and each write is a system call that also hands the
 * bytes to nats-server over loopback (a third of a mesh node's CPU in bench/mesh's profile).
 * Here `send` queues the packet and one setImmediate publishes the turn's packets in order, so
 * nats.js flushes them in one write. Each send still settles on its own: a packet nats.js
 * refuses (too large, connection closed) fails its own call, as it did when published at once.
 * Only Moleculer's packets go through here; durable channels have their own NATS connection.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- moleculer's typings lack the transporter classes
const { Transporters } = require("moleculer");
const NatsTransporter = Transporters.NATS;

interface Queued {
	topic: string;
	data: Buffer;
	resolve: () => void;
	reject: (err: unknown) => void;
}

interface NatsClient {
	publish(subject: string, data: Uint8Array): void;
}

export class BatchingNatsTransporter extends NatsTransporter {
	declare client: NatsClient | null;
	private queue: Queued[] = [];

	constructor(opts: Record<string, unknown>) {
		super(opts);
	}

	send(topic: string, data: Buffer): Promise<void> {
		if (!this.client) return Promise.resolve();
		return new Promise<void>((resolve, reject) => {
			if (this.queue.push({ topic, data, resolve, reject }) === 1) setImmediate(() => this.publishQueued());
		});
	}

	/** Publishes what was sent since the last turn, in order; nats.js writes it in one flush. */
	publishQueued() {
		const queued = this.queue;
		if (queued.length === 0) return;
		this.queue = [];
		for (const q of queued) {
			try {
				// No client any more (disconnected meanwhile): dropped, as the stock send drops it.
				this.client?.publish(q.topic, q.data);
				q.resolve();
			} catch (err) {
				q.reject(err);
			}
		}
	}

	/** The DISCONNECT packet (and anything else queued) goes out before the connection is drained. */
	disconnect() {
		this.publishQueued();
		return super.disconnect();
	}
}
