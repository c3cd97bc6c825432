/**
 * Retrying with exponential backoff, one policy for every service: the first retry waits
 * `firstDelayMs`, each further one twice as long, up to `maxDelayMs`.
 *
 * - `retry(fn, opts)` awaits `fn` until it succeeds (exponential-backoff does the waiting);
 *   `onFailure` sees each failure and may end the retries by returning false (the error is thrown).
 * - `Backoff` is the same delay sequence for loops driven by timers (a reconnect scheduled with
 *   setTimeout that `stop()` must be able to cancel).
 */
import { backOff } from "exponential-backoff";

export interface RetryOptions {
	firstDelayMs: number;
	maxDelayMs: number;
	/** Tries in all, the first included; default: until `onFailure` returns false. */
	attempts?: number;
	/** After a failed try that will be retried: the try's number and the wait before the next one. */
	onFailure?: (err: unknown, attempt: number, nextDelayMs: number) => boolean | void;
}

/** The wait after failed try number `attempt` (1, 2, …). */
export function delayAfter(attempt: number, opts: Pick<RetryOptions, "firstDelayMs" | "maxDelayMs">): number {
	return Math.min(opts.firstDelayMs * 2 ** (attempt - 1), opts.maxDelayMs);
}

export async function retry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
	const attempts = opts.attempts ?? Infinity;
	// The first try runs outside exponential-backoff: its down-levelled generators cost several promises and a
	// zero-delay wait per call, and the pipeline calls this per message, where nearly every first try succeeds.
	try {
		return await fn();
	} catch (err) {
		if (attempts <= 1 || opts.onFailure?.(err, 1, delayAfter(1, opts)) === false) throw err;
	}
	// Try n + 1 of ours is backOff's n-th: with delayFirstAttempt its waits are first, 2 × first, … (capped).
	return backOff(fn, {
		numOfAttempts: attempts - 1,
		startingDelay: opts.firstDelayMs,
		timeMultiple: 2,
		maxDelay: opts.maxDelayMs,
		jitter: "none",
		delayFirstAttempt: true,
		retry: (err: unknown, n: number) =>
			n + 1 < attempts && opts.onFailure?.(err, n + 1, delayAfter(n + 1, opts)) !== false
	});
}

/** The delay sequence alone: `next()` after each failure, `reset()` after a success. */
export class Backoff {
	private failures = 0;

	constructor(
		readonly firstDelayMs: number,
		readonly maxDelayMs: number
	) {}

	next(): number {
		this.failures++;
		return delayAfter(this.failures, this);
	}

	reset(): void {
		this.failures = 0;
	}

	/** The last delay handed out (0 before the first failure). */
	get current(): number {
		return this.failures === 0 ? 0 : delayAfter(this.failures, this);
	}
}
