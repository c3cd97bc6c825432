/**
 * Passwords and e-mail addresses: hashing (Argon2id), the password policy, normalisation.
 */
import argon2 from "argon2";

/**
 * Argon2id at OWASP's first recommended setting (m = 19 MiB, t = 2, p = 1). A login then costs
 * about 20–40 ms of one core here: slow enough to make offline guessing expensive, cheap enough
 * that a 2-core node or a Pi keeps serving while a few logins run, and 19 MiB per concurrent
 * hash stays affordable on a Pi (the bulkhead caps concurrent logins at 10 → < 200 MiB).
 * Changing the cost does not invalidate stored hashes: the parameters live in each hash.
 */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 10;
/** Bounded so a megabyte "password" cannot make every login hash a megabyte. */
export const PASSWORD_MAX = 128;
export const EMAIL_MAX = 254;

export function hashPassword(password: string): Promise<string> {
	return argon2.hash(password, ARGON2_OPTIONS);
}

/** False for a wrong password and for a hash that is not a valid Argon2 string (never throws). */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
	try {
		return await argon2.verify(hash, password);
	} catch {
		return false;
	}
}

let dummyHash: Promise<string> | null = null;
/**
 * Verifies against a throwaway hash so that "no such user" costs as much time as "wrong
 * password": response time must not tell an attacker which e-mail addresses exist.
 */
export async function burnVerify(password: string): Promise<false> {
	dummyHash ??= hashPassword("fleetmesh-dummy-password-for-timing");
	await verifyPassword(await dummyHash, password);
	return false;
}

/** Returns what is wrong with a password, or null when it is acceptable. */
export function passwordProblem(password: string, email?: string): string | null {
	if (typeof password !== "string") return "password must be a string";
	const length = [...password].length;
	if (length < PASSWORD_MIN) return `password must be at least ${PASSWORD_MIN} characters long`;
	if (length > PASSWORD_MAX) return `password must be at most ${PASSWORD_MAX} characters long`;
	// eslint-disable-next-line no-control-regex
	if (/[\u0000-\u001f\u007f]/.test(password)) return "password must not contain control characters";
	if (!/\p{L}/u.test(password)) return "password must contain at least one letter";
	if (!/[\p{N}\p{P}\p{S}]/u.test(password)) return "password must contain at least one digit or symbol";
	if (new Set(password).size < 5) return "password must use at least 5 different characters";
	const local = email?.split("@")[0]?.toLowerCase();
	if (local && local.length >= 4 && password.toLowerCase().includes(local))
		return "password must not contain the e-mail address";
	return null;
}

/**
 * One spelling per address: trimmed, Unicode-normalised, lower-cased. Two registrations that
 * differ only in case are the same user (the database enforces it with a unique key).
 */
export function normaliseEmail(raw: string): string {
	return raw.normalize("NFKC").trim().toLowerCase();
}

/** A deliberately plain syntax check: local@domain.tld, no spaces, quotes, angle brackets or control characters. */
export function emailProblem(email: string): string | null {
	if (typeof email !== "string") return "email must be a string";
	if (email.length === 0) return "email is required";
	if (email.length > EMAIL_MAX) return `email must be at most ${EMAIL_MAX} characters long`;
	const at = email.lastIndexOf("@");
	if (at < 1 || at > 64) return "email must look like name@example.com";
	const local = email.slice(0, at);
	const domain = email.slice(at + 1);
	if (
		!/^[a-z0-9.!#$%&*+/=?^_`{|}~-]+$/.test(local) ||
		local.startsWith(".") ||
		local.endsWith(".") ||
		local.includes("..")
	) {
		return "email must look like name@example.com (letters, digits and . _ + - before the @)";
	}
	if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain))
		return "email must have a valid domain, like example.com";
	return null;
}
