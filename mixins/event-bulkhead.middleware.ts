/**
 * Keeps the bulkhead for actions only.
 *
 * moleculer 0.14 applies the global `bulkhead` option to event handlers too, and an event
 * that finds the queue full is dropped with an error log. Events here are notifications
 * (device.status, alert.*) that arrive in bursts; they should queue, not vanish. An event
 * handler can still opt in with its own `bulkhead: { enabled: true, … }`.
 */
import type { Middleware } from "moleculer";

export function EventBulkheadOffMiddleware(): Middleware {
	return {
		name: "EventBulkheadOff",
		// Registered before the internal middlewares, so this runs before the bulkhead reads the option.
		localEvent(handler: unknown, event: { bulkhead?: { enabled?: boolean } }) {
			if (!event.bulkhead) event.bulkhead = { enabled: false };
			return handler;
		}
	} as unknown as Middleware;
}
