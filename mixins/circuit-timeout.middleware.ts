/**
 * Lets the circuit breaker see remote timeouts.
 *
 * In moleculer 0.14 the Timeout middleware wraps the CircuitBreaker middleware, so a remote
 * call that times out rejects the caller but never reaches the breaker: a killed node keeps
 * receiving calls, each waiting out the full timeout, until its heartbeat expires. This
 * middleware is registered before the internal ones, so it sits inside the breaker, and
 * rejects a remote call with RequestTimeoutError when its deadline passes; the breaker counts
 * it and opens after `minRequestCount` such failures, and callers then fail at once.
 */
import type { Context, Middleware } from "moleculer";
import { Errors } from "moleculer";

export function CircuitTimeoutMiddleware(): Middleware {
	let defaultTimeout = 0;
	return {
		name: "CircuitTimeout",
		created(broker: { options: { requestTimeout?: number } }) {
			defaultTimeout = broker.options.requestTimeout ?? 0;
		},
		remoteAction(next: (ctx: Context) => Promise<unknown>) {
			return (ctx: Context) => {
				const timeout = ctx.options.timeout ?? defaultTimeout;
				if (!timeout || timeout <= 0) return next(ctx);
				const call = next(ctx);
				// One promise per call (not a deadline promise, a race and a finally: three more on
				// every remote call of the mesh); whichever settles first wins, the timer is cleared.
				return new Promise((resolve, reject) => {
					const timer = setTimeout(
						() => reject(new Errors.RequestTimeoutError({ action: ctx.action?.name, nodeID: ctx.nodeID })),
						timeout
					);
					call.then(
						res => {
							clearTimeout(timer);
							resolve(res);
						},
						err => {
							clearTimeout(timer);
							reject(err);
						}
					);
				});
			};
		}
	} as unknown as Middleware;
}
