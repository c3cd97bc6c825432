/**
 * Rate limits per client address, shared by every gateway when REDIS_URL is set
 * (rate-limiter-flexible on that Redis: N gateways allow N × nothing more than the limit), and
 * per gateway instance in memory otherwise. If Redis is unreachable the limit falls back to
 * memory on that gateway (the insurance limiter) instead of failing the request.
 */
import Redis from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

export interface AddressLimiter {
	readonly shared: boolean;
	/** Counts one request for `key`; resolves to the seconds to wait when over the limit, else 0. */
	hit(key: string): Promise<number>;
	close(): Promise<void>;
}

const clients = new Map<string, { redis: Redis; users: number }>();

/** `name` separates the counters of different limits; `namespace` those of different meshes on one Redis. */
export function createAddressLimiter(opts: {
	name: string;
	perMinute: number;
	redisUrl: string | null;
	namespace: string;
}): AddressLimiter {
	const memory = new RateLimiterMemory({ points: opts.perMinute, duration: 60, keyPrefix: opts.name });
	let limiter: RateLimiterAbstract = memory;
	let release = async () => undefined as void;
	if (opts.redisUrl) {
		let entry = clients.get(opts.redisUrl);
		if (!entry) {
			// No offline queue: while Redis is down a check fails at once and the memory limiter answers.
			const redis = new Redis(opts.redisUrl, {
				enableOfflineQueue: false,
				maxRetriesPerRequest: 1,
				lazyConnect: false
			});
			redis.on("error", () => undefined);
			entry = { redis, users: 0 };
			clients.set(opts.redisUrl, entry);
		}
		entry.users++;
		const e = entry;
		limiter = new RateLimiterRedis({
			storeClient: e.redis,
			points: opts.perMinute,
			duration: 60,
			keyPrefix: `${opts.namespace}-rl-${opts.name}`,
			insuranceLimiter: memory
		});
		release = async () => {
			if (--e.users === 0) {
				clients.delete(opts.redisUrl!);
				e.redis.disconnect();
			}
		};
	}
	return {
		shared: limiter !== memory,
		async hit(key: string) {
			try {
				await limiter.consume(key);
				return 0;
			} catch (res) {
				if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
				// Neither store answered: do not lock everyone out over an outage.
				return 0;
			}
		},
		close: release
	};
}
