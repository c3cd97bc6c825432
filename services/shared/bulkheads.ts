/**
 * Bulkheads by class of action: Moleculer's built-in bulkhead, broker-wide (moleculer.config.ts)
 * and per action (`bulkhead: …` in an action's schema, merged over the broker's).
 *
 * - database (the broker default: most actions here run a query): as many calls of one action
 *   at once as the PostgreSQL pool has connections (DB_POOL_MAX, 10), and a deep queue
 *   (BULKHEAD_QUEUE, 2,000 calls) in front: a burst of 1,000 dashboard reads waits its turn
 *   instead of being refused, and more running calls than connections would only wait inside
 *   the pool (whose wait times out after 5 s) instead of in the bulkhead's queue.
 * - in memory (health, metrics): no I/O, so many at once.
 * - the gateway's request handler (moleculer-web routes every HTTP request through its
 *   `gateway.rest` action): it only waits for the action it routes to, whose own bulkhead is the
 *   limit that matters, so 1,000 requests at once (then BULKHEAD_QUEUE waiting) per gateway.
 *   With the broker default it was 10 + 100 for all routes together: the 429 QUEUE_FULL that 200
 *   connections on one database route used to get.
 * - password hashing: Argon2id holds 19 MiB per running hash, so at most 10 at once whatever
 *   the pool size (a Pi stays under 200 MiB for logins).
 *
 * Past the queue the call is refused at once with QueueIsFullError; the gateway answers it 503
 * with Retry-After (services/shared/errors.ts): the node is saturated, the client is not
 * rate-limited (429 is for that). It is not retried by the broker's retry policy: another try
 * a moment later on the same saturated node would only add load.
 */
import type { BulkheadOptions } from "moleculer";

/** What the broker's default needs from the environment (services/shared/env.ts). */
export interface BulkheadEnv {
	dbPoolMax: number;
	bulkheadQueue: number;
}

/** The broker-wide bulkhead: the database class. */
export function defaultBulkhead(env: BulkheadEnv): BulkheadOptions {
	return { enabled: true, concurrency: env.dbPoolMax, maxQueueSize: env.bulkheadQueue };
}

/** Actions that answer from memory: they finish in microseconds, so concurrency is not the limit. */
export const IN_MEMORY_BULKHEAD: BulkheadOptions = { enabled: true, concurrency: 200 };

/** moleculer-web's `gateway.rest`: every HTTP request of one gateway. */
export const GATEWAY_ROUTING_BULKHEAD: BulkheadOptions = { enabled: true, concurrency: 1000 };

/** Actions that hash a password (Argon2id, 19 MiB each while it runs). */
export const PASSWORD_HASH_BULKHEAD: BulkheadOptions = { enabled: true, concurrency: 10 };

/** Seconds a client turned away by a full queue is told to wait (Retry-After): a full queue drains in about that. */
export const SHED_RETRY_AFTER_S = 1;
