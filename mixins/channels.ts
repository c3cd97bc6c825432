/**
 * Durable channels (@moleculer/channels) wired from the environment:
 *   TRANSPORTER=nats://…  → NATS JetStream (durable, at-least-once)
 *   REDIS_URL only         → Redis Streams (durable, at-least-once)
 *   neither                → in-process Fake adapter (NOT durable: a crash loses what is in flight)
 *
 * Pitfalls of @moleculer/channels 0.1.x handled here:
 *   - a NATS URL given as a string is ignored (it connects to localhost): we pass the object form;
 *   - Redis streams grow without bound: every send gets a default MAXLEN;
 *   - the first connection is not retried: the adapters below retry it with backoff.
 */
import type { ServiceBroker } from "moleculer";
import type { FleetEnv } from "../services/shared/env";
import { registerHealthCheck } from "./health";
import { errorMessage } from "../services/shared/error-message";
import { retry } from "../services/shared/retry";

// The package ships JS without usable TS types for its internals.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped internals, see above
const Channels = require("@moleculer/channels");
const Adapters = Channels.Adapters as Record<string, new (opts?: unknown) => ChannelAdapter>;

interface ChannelAdapter {
	connected: boolean;
	connect(): Promise<void>;
	disconnect(): Promise<void>;
	broker: ServiceBroker;
	logger: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
	connection?: { isClosed?: () => boolean };
	clients?: Map<string, { status?: string }>;
}

export type ChannelsKind = "NATS" | "Redis" | "Fake";

/** Name of the dead-letter channel (prefixed with the namespace by the adapter). */
export const DEAD_LETTER_CHANNEL = "fleetmesh.dead-letter";

/** Redis stream cap per channel: enough for hours of backlog on a Pi, bounded all the same. */
const REDIS_XADD_MAXLEN = "~1000000";

/** Keeps the first connection trying until it succeeds: a broker that starts late is normal at the edge. */
function withConnectRetry(Base: new (opts?: unknown) => ChannelAdapter, what: string) {
	return class RetryingAdapter extends Base {
		override async disconnect(): Promise<void> {
			// The NATS adapter drains an already closed connection on a second stop and logs an error.
			if (this.connection?.isClosed?.()) {
				this.connected = false;
				return;
			}
			return super.disconnect();
		}

		override async connect(): Promise<void> {
			await retry(() => super.connect(), {
				firstDelayMs: 250,
				maxDelayMs: 5000,
				attempts: 40,
				onFailure: (err, _attempt, delay) => {
					if (this.broker.stopping) return false;
					this.logger.warn(`${what} not reachable (${errorMessage(err)}); retrying in ${delay} ms`);
				}
			});
		}
	};
}

export function channelsKind(env: FleetEnv): ChannelsKind {
	if (env.transporter.kind === "NATS") return "NATS";
	if (env.redisUrl) return "Redis";
	return "Fake";
}

const common = {
	// A handler that throws is retried this many times, then dead-lettered with its
	// original channel and group in the headers.
	maxRetries: 3,
	deadLettering: { enabled: true, queueName: DEAD_LETTER_CHANNEL }
};

/** user/password (or a token as the user) from the first NATS URL that carries them. */
export function natsCredentials(urls: string): { user?: string; pass?: string; token?: string } {
	for (const part of urls.split(",")) {
		const u = new URL(part.trim());
		if (!u.username) continue;
		// Not URL-decoded: moleculer's NATS transporter passes them as written, and both connections must agree.
		const user = u.username;
		return u.password ? { user, pass: u.password } : { token: user };
	}
	return {};
}

function createAdapter(env: FleetEnv): ChannelAdapter {
	const kind = channelsKind(env);
	if (kind === "NATS") {
		const NatsAdapter = withConnectRetry(Adapters.NATS, "NATS JetStream");
		const url = (env.transporter as { url: string }).url;
		return new NatsAdapter({
			...common,
			maxInFlight: 16,
			nats: {
				url,
				// The adapter keeps only host:port of the URL: the mesh credentials are passed here.
				// noAsyncTraces: nats.js otherwise builds two Errors (stack traces) per request, that is per
				// JetStream publish and per acknowledgement: 1.3 % of a paced pipeline run's CPU. A failed
				// publish still rejects with its NatsError; only the caller's frames are left out.
				connectionOptions: {
					maxReconnectAttempts: -1,
					reconnectTimeWait: 1000,
					noAsyncTraces: true,
					...natsCredentials(url)
				},
				// Bounded retention: a week of backlog survives a long outage, the disk does not fill.
				// num_replicas: 3 on a NATS cluster (CHANNELS_REPLICAS), so a stream survives a server.
				streamConfig: { max_age: 7 * 24 * 3600 * 1e9, num_replicas: env.channelsReplicas },
				consumerOptions: {
					config: {
						// A consumer group created after messages were sent still gets them:
						// nothing published is lost because its consumer was not there yet.
						deliver_policy: "all",
						ack_policy: "explicit",
						// Redeliver if a consumer dies mid-batch without acking (handlers that wait out an
						// outage report "still working", so a long wait is not a redelivery).
						ack_wait: env.channelsAckWaitMs * 1e6
					}
				}
			}
		});
	}
	if (kind === "Redis") {
		const RedisAdapter = withConnectRetry(Adapters.Redis, "Redis");
		return new RedisAdapter({
			...common,
			maxInFlight: 16,
			redis: {
				url: env.redisUrl,
				// A message delivered but not acked (handler failed, or its consumer died) is
				// retried — by any consumer of the group — after this long; it must exceed the
				// slowest handler, or a message still in work would be delivered twice.
				consumerOptions: { minIdleTime: env.channelsRedisMinIdleMs, claimInterval: 250, startID: "0" }
			}
		});
	}
	return new Adapters.Fake({ ...common });
}

/** The channels middleware for moleculer.config.ts. */
export function createChannelsMiddleware(env: FleetEnv) {
	const adapter = createAdapter(env);
	const kind = channelsKind(env);
	const middleware = Channels.Middleware({ adapter, context: false });
	const originalCreated = middleware.created;
	const originalStarted = middleware.started;
	// The middleware subscribes every channel after the services started (and after the broker
	// says started): until then a consumer group may not exist yet, so the node is not ready.
	let subscribed = false;
	return {
		...middleware,
		async started(...args: unknown[]) {
			await originalStarted.apply(this, args);
			subscribed = true;
		},
		created(broker: ServiceBroker) {
			originalCreated.call(this, broker);
			if (kind === "Fake") {
				broker.logger.warn(
					"channels: in-process adapter (not durable: set TRANSPORTER=nats://… or REDIS_URL for " +
						"durable delivery)"
				);
			} else {
				broker.logger.info(
					`channels: ${kind === "NATS" ? "NATS JetStream" : "Redis Streams"} (durable, at-least-once)`
				);
			}
			if (kind === "Redis") {
				// Cap every stream unless the caller chose its own cap.
				const send = broker.sendToChannel.bind(broker);
				broker.sendToChannel = (name, payload, opts = {}) =>
					send(name, payload, { xaddMaxLen: REDIS_XADD_MAXLEN, ...opts });
			}
			registerHealthCheck(broker, "channels", async () => {
				if (!adapter.connected) throw new Error(`${kind} channel adapter not connected`);
				if (adapter.connection?.isClosed?.()) throw new Error("NATS JetStream connection closed");
				if (!subscribed) throw new Error(`${kind} channel consumers not subscribed yet`);
				return kind;
			});
		}
	};
}
