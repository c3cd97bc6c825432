/** The one retry policy: doubling waits up to a cap, a give-up hook, and the timer-driven form. */
import { describe, expect, it } from "vitest";
import { Backoff, delayAfter, retry } from "../../services/shared/retry";
import { errorMessage } from "../../services/shared/error-message";

describe("retry", () => {
	it("doubles the wait after each failure up to the cap", () => {
		const opts = { firstDelayMs: 100, maxDelayMs: 500 };
		expect([1, 2, 3, 4, 5].map(n => delayAfter(n, opts))).toEqual([100, 200, 400, 500, 500]);
		const b = new Backoff(250, 1000);
		expect([b.next(), b.next(), b.next(), b.next()]).toEqual([250, 500, 1000, 1000]);
		b.reset();
		expect(b.current).toBe(0);
		expect(b.next()).toBe(250);
	});

	it("retries until the call succeeds, reporting each failure and the wait before the next try", async () => {
		let calls = 0;
		const seen: Array<[string, number, number]> = [];
		const result = await retry(
			async () => {
				if (++calls < 3) throw new Error(`down ${calls}`);
				return "up";
			},
			{
				firstDelayMs: 5,
				maxDelayMs: 8,
				onFailure: (err, attempt, next) => void seen.push([errorMessage(err), attempt, next])
			}
		);
		expect(result).toBe("up");
		expect(seen).toEqual([
			["down 1", 1, 5],
			["down 2", 2, 8]
		]);
	});

	it("gives up with the last error when onFailure says so or the attempts run out", async () => {
		let calls = 0;
		const fail = async () => {
			throw new Error(`no ${++calls}`);
		};
		await expect(
			retry(fail, { firstDelayMs: 1, maxDelayMs: 1, onFailure: (_e, attempt) => attempt < 2 })
		).rejects.toThrow("no 2");
		calls = 0;
		const reported: number[] = [];
		await expect(
			retry(fail, { firstDelayMs: 1, maxDelayMs: 1, attempts: 3, onFailure: (_e, a) => void reported.push(a) })
		).rejects.toThrow("no 3");
		// The last try is not reported as "retrying".
		expect(reported).toEqual([1, 2]);
	});

	it("waits first, 2 × first, … between tries (measured), and a first success waits for nothing", async () => {
		const started: number[] = [];
		let calls = 0;
		await retry(
			async () => {
				started.push(Date.now());
				if (++calls < 4) throw new Error("down");
				return "up";
			},
			{ firstDelayMs: 40, maxDelayMs: 80 }
		);
		const gaps = started.slice(1).map((t, i) => t - started[i]);
		// 40, 80, 80 (capped): timers fire late, never early.
		expect(gaps[0]).toBeGreaterThanOrEqual(39);
		expect(gaps[1]).toBeGreaterThanOrEqual(79);
		expect(gaps[2]).toBeGreaterThanOrEqual(79);
		const t0 = Date.now();
		expect(await retry(async () => 1, { firstDelayMs: 1000, maxDelayMs: 1000 })).toBe(1);
		expect(Date.now() - t0).toBeLessThan(900);
	});
});
