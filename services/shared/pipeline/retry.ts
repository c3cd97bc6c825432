/**
 * Waiting out an outage inside a channel handler, shared by the pipeline stages.
 *
 * A handler that cannot reach PostgreSQL or the next channel keeps its message unacknowledged
 * and tries again, backing off to 5 s, telling the channel it is still working on the message
 * (`keepAlive`) so it is not redelivered meanwhile. It gives up only when the node stops, and
 * then the message is redelivered to whoever runs the stage next: nothing is dropped.
 */
import type { LoggerInstance } from "moleculer";
import { errorMessage } from "../error-message";
import { retry } from "../retry";

export type KeepAlive = () => void;

/** The channel's "still working" signal of a raw channel message, when the adapter has one (NATS). */
export function keepAliveOf(raw: unknown): KeepAlive | undefined {
	const m = raw as { working?: () => void } | undefined;
	return m && typeof m.working === "function" ? () => m.working!() : undefined;
}

export interface RetryContext {
	logger: LoggerInstance;
	isStopping: () => boolean;
	/** Counts each failed attempt (the stage's `retries` figure in its stats). */
	onRetry?: () => void;
}

export function untilDone<T>(ctx: RetryContext, what: string, fn: () => Promise<T>, keepAlive?: KeepAlive): Promise<T> {
	return retry(fn, {
		firstDelayMs: 100,
		maxDelayMs: 5000,
		onFailure: (err, attempt) => {
			if (ctx.isStopping()) return false;
			ctx.onRetry?.();
			if (attempt === 1 || attempt % 10 === 0)
				ctx.logger.warn(`pipeline: ${what} failed (${errorMessage(err)}); retrying`);
			keepAlive?.();
		}
	});
}
