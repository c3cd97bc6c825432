/**
 * In-memory bookkeeping of the signing service: revoked token ids and failed-login counters.
 * Both are bounded and forget what has expired.
 */

/** Revoked token ids (jti) with their expiry; a revoked token stays here only until it would have expired anyway. */
export class RevocationList {
	private readonly entries = new Map<string, number>();

	/** exp: seconds since the epoch. */
	add(jti: string, exp: number): void {
		if (exp * 1000 > Date.now()) this.entries.set(jti, exp);
	}

	has(jti: string): boolean {
		return this.entries.has(jti);
	}

	replaceAll(list: Array<{ jti: string; exp: number }>): void {
		this.entries.clear();
		for (const { jti, exp } of list) this.add(jti, exp);
	}

	merge(list: Array<{ jti: string; exp: number }>): void {
		for (const { jti, exp } of list) this.add(jti, exp);
	}

	purge(nowMs = Date.now()): number {
		let n = 0;
		for (const [jti, exp] of this.entries) {
			if (exp * 1000 <= nowMs) {
				this.entries.delete(jti);
				n++;
			}
		}
		return n;
	}

	get size(): number {
		return this.entries.size;
	}

	list(): Array<{ jti: string; exp: number }> {
		return [...this.entries].map(([jti, exp]) => ({ jti, exp }));
	}
}

interface Counter {
	count: number;
	resetAt: number;
}

/**
 * Fixed-window counters of failed logins. An account is throttled per (account, address) at
 * `limit` failures and per account at `limit × 4` (many addresses guessing one password), so one
 * attacker cannot lock a user out from everywhere with a handful of tries.
 */
export class LoginThrottle {
	private readonly counters = new Map<string, Counter>();

	constructor(
		readonly limit: number,
		readonly windowMs = 15 * 60_000,
		private readonly maxKeys = 100_000
	) {}

	private keys(email: string, ip: string | null): Array<[string, number]> {
		return [
			[`a:${email}`, this.limit * 4],
			[`ai:${email}|${ip ?? "?"}`, this.limit]
		];
	}

	/** Seconds to wait when this login must be refused now, else 0. */
	retryAfter(email: string, ip: string | null, now = Date.now()): number {
		let wait = 0;
		for (const [key, limit] of this.keys(email, ip)) {
			const c = this.counters.get(key);
			if (c && c.resetAt > now && c.count >= limit) wait = Math.max(wait, Math.ceil((c.resetAt - now) / 1000));
		}
		return wait;
	}

	fail(email: string, ip: string | null, now = Date.now()): void {
		if (this.counters.size >= this.maxKeys) this.purge(now);
		for (const [key] of this.keys(email, ip)) {
			const c = this.counters.get(key);
			if (!c || c.resetAt <= now) this.counters.set(key, { count: 1, resetAt: now + this.windowMs });
			else c.count++;
		}
	}

	/**
	 * Checks and counts in one synchronous step: the attempt counts as a failure before the
	 * (slow) password check, so concurrent guesses cannot all pass the check before any of them
	 * is counted. Returns the seconds to wait (refused, not counted) or 0 (go ahead).
	 */
	attempt(email: string, ip: string | null, now = Date.now()): number {
		const wait = this.retryAfter(email, ip, now);
		if (wait > 0) return wait;
		this.fail(email, ip, now);
		return 0;
	}

	/** A successful login clears this address's failures for the account and un-counts its attempt. */
	succeed(email: string, ip: string | null): void {
		this.counters.delete(`ai:${email}|${ip ?? "?"}`);
		const account = this.counters.get(`a:${email}`);
		if (account && account.count > 0) account.count--;
	}

	purge(now = Date.now()): void {
		for (const [key, c] of this.counters) if (c.resetAt <= now) this.counters.delete(key);
		// Still full (an attack with many addresses): forget the oldest half rather than grow.
		if (this.counters.size >= this.maxKeys) {
			const keys = [...this.counters.keys()].slice(0, Math.floor(this.maxKeys / 2));
			for (const k of keys) this.counters.delete(k);
		}
	}
}
