/**
 * Keeps events from being dropped by a bulkhead.
 *
 * moleculer 0.14 applies the global `bulkhead` option to event handlers too, and an event
 * that finds the queue full is dropped with an error log. Events here are notifications
 * (device.status, alert.*) that arrive in bursts, and the in-process channel adapter delivers
 * channel messages as events with a bulkhead of `maxInFlight`: they must queue, not vanish.
 * So: no bulkhead for an event handler unless it asks for one, and a handler that asks for one
 * (concurrency) gets a queue without the global 100-message cap.
 */
import type { Middleware } from "moleculer";

/** Effectively unbounded: the in-process adapter has no durability to fall back on anyway. */
const EVENT_QUEUE_SIZE = 1_000_000_000;

export function EventBulkheadOffMiddleware(): Middleware {
	return {
		name: "EventBulkheadOff",
		// Registered before the internal middlewares, so this runs before the bulkhead reads the option.
		localEvent(handler: unknown, event: { bulkhead?: { enabled?: boolean; maxQueueSize?: number } }) {
			if (!event.bulkhead) event.bulkhead = { enabled: false };
			else if (event.bulkhead.maxQueueSize == null) event.bulkhead.maxQueueSize = EVENT_QUEUE_SIZE;
			return handler;
		}
	} as unknown as Middleware;
}
