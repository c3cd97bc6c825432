/** Plain functions of the signing service and the gateway's auth mixin. */
import fs from "node:fs";
import path from "node:path";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { allowedOrigin, authLevelOf, importHmacKey as gatewayImport, parseBearer, securityHeaders, verifyAccessToken, WindowLimiter } from "../../services/gateway/auth.mixin";
import { LoginThrottle, RevocationList } from "../../services/signing/limits";
import { emailProblem, hashPassword, normaliseEmail, passwordProblem, verifyPassword } from "../../services/signing/passwords";
import { checkToken, importHmacKey, issueToken, loadOrCreateJwtKey } from "../../services/signing/tokens";
import { tempDir } from "../helpers/broker";

const key = new TextEncoder().encode("unit-test-secret-unit-test-secret-0123");
const user = { id: 7, email: "u@example.com", is_admin: false };

describe("passwords and e-mail", () => {
	it("hashes with Argon2id and verifies; a wrong password or a broken hash is false, never a throw", async () => {
		const h = await hashPassword("plain-text-pw-1");
		expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
		expect(await verifyPassword(h, "plain-text-pw-1")).toBe(true);
		expect(await verifyPassword(h, "plain-text-pw-2")).toBe(false);
		expect(await verifyPassword("not-a-hash", "x")).toBe(false);
	});

	it("password policy gives the rule that failed", () => {
		expect(passwordProblem("short-1")).toMatch(/at least 10/);
		expect(passwordProblem("x".repeat(129))).toMatch(/at most 128/);
		expect(passwordProblem("abcdefghijk")).toMatch(/digit or symbol/);
		expect(passwordProblem("1234567890!")).toMatch(/letter/);
		expect(passwordProblem("aaaaaaaaa1")).toMatch(/5 different/);
		expect(passwordProblem("tab\there-pass1")).toMatch(/control/);
		expect(passwordProblem("johnsmith-2024", "johnsmith@example.com")).toMatch(/e-mail/);
		expect(passwordProblem("correct-horse-7", "alice@example.com")).toBeNull();
		expect(passwordProblem("ünïcödé-pässwörd")).toBeNull();
	});

	it("normalises and checks addresses", () => {
		expect(normaliseEmail("  Alice@Example.COM ")).toBe("alice@example.com");
		expect(emailProblem("alice@example.com")).toBeNull();
		expect(emailProblem("first.last+tag@sub.example.co")).toBeNull();
		for (const bad of ["", "no-at-sign", "@example.com", "a@b", "a b@example.com", "a@example.com' or '1'='1", "<x>@example.com", "a..b@example.com", "a@-example.com", "a".repeat(250) + "@example.com"]) {
			expect(emailProblem(bad), bad).not.toBeNull();
		}
	});
});

describe("tokens", () => {
	it("issues a token both checkers accept with the same claims", async () => {
		const { token, jti, exp } = await issueToken(key, user, 600);
		const a = await checkToken(key, token);
		const b = await verifyAccessToken(key, token);
		expect(a).toEqual({ ok: true, claims: { ...user, jti, exp } });
		expect(b).toEqual({ ok: true, user: { ...user, jti, exp } });
		// The same with keys imported once as WebCrypto keys (what the services use).
		expect(await checkToken(await importHmacKey(key), token)).toEqual(a);
		expect(await verifyAccessToken(await gatewayImport(key), token)).toEqual(b);
		const other = await issueToken(await importHmacKey(key), user, 600);
		expect((await checkToken(key, other.token)).ok).toBe(true);
	});

	it("both checkers refuse alg none, other algorithms, other keys, tampering, expiry, missing claims and garbage", async () => {
		const now = Math.floor(Date.now() / 1000);
		const { token } = await issueToken(key, user, 600);
		const [h, p, s] = token.split(".");
		const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), is_admin: true })).toString("base64url")}.${s}`;
		const none = new UnsecuredJWT({ email: user.email, is_admin: true }).setSubject("7").setIssuer("fleetmesh").setJti("n").setExpirationTime(now + 60).encode();
		const hs384 = await new SignJWT({ email: user.email, is_admin: true }).setProtectedHeader({ alg: "HS384" }).setSubject("7").setIssuer("fleetmesh").setJti("h").setExpirationTime(now + 60).sign(key);
		const otherKey = await new SignJWT({ email: user.email, is_admin: true }).setProtectedHeader({ alg: "HS256" }).setSubject("7").setIssuer("fleetmesh").setJti("o").setExpirationTime(now + 60).sign(new TextEncoder().encode("x".repeat(40)));
		const expired = await new SignJWT({ email: user.email, is_admin: false }).setProtectedHeader({ alg: "HS256" }).setSubject("7").setIssuer("fleetmesh").setJti("e").setExpirationTime(now - 10).sign(key);
		const noJti = await new SignJWT({ email: user.email, is_admin: false }).setProtectedHeader({ alg: "HS256" }).setSubject("7").setIssuer("fleetmesh").setExpirationTime(now + 60).sign(key);
		const wrongIssuer = await new SignJWT({ email: user.email, is_admin: false }).setProtectedHeader({ alg: "HS256" }).setSubject("7").setIssuer("evil").setJti("i").setExpirationTime(now + 60).sign(key);
		const badClaims = await new SignJWT({ email: 5, is_admin: "yes" }).setProtectedHeader({ alg: "HS256" }).setSubject("seven").setIssuer("fleetmesh").setJti("c").setExpirationTime(now + 60).sign(key);
		const cases: Array<[string, string, RegExp, string]> = [
			["alg none", none, /algorithm|malformed/i, "invalid|malformed"],
			["HS384", hs384, /algorithm/, "invalid"],
			["other key", otherKey, /signature/, "invalid"],
			["tampered", tampered, /signature/, "invalid"],
			["expired", expired, /expired/, "expired"],
			["no jti", noJti, /claim 'jti'/, "invalid"],
			["wrong issuer", wrongIssuer, /claim 'iss'/, "invalid"],
			["bad claims", badClaims, /claims/, "invalid"],
			["garbage", "a.b.c", /malformed/, "malformed"],
			["empty", "", /missing|malformed/, "malformed"]
		];
		for (const [name, t, msg, reason] of cases) {
			const a = await checkToken(key, t);
			expect(a.ok, name).toBe(false);
			if (!a.ok) {
				expect(a.message, name).toMatch(msg);
				expect(a.reason, name).toMatch(new RegExp(reason));
			}
			if (t === "") continue;
			const b = await verifyAccessToken(key, t);
			expect(b.ok, name).toBe(false);
			if (!b.ok) expect(b.message, name).toMatch(msg);
		}
	});

	it("generates the key once into DATA_DIR with mode 600, or takes JWT_SECRET (32+ characters)", () => {
		const dir = tempDir("jwtkey");
		const k1 = loadOrCreateJwtKey(dir, null);
		expect(k1.length).toBe(64);
		expect(fs.statSync(path.join(dir, "jwt.key")).mode & 0o777).toBe(0o600);
		expect(Buffer.from(loadOrCreateJwtKey(dir, null)).equals(Buffer.from(k1))).toBe(true);
		expect(() => loadOrCreateJwtKey(dir, "too-short")).toThrow(/at least 32/);
		expect(new TextDecoder().decode(loadOrCreateJwtKey(dir, "s".repeat(32)))).toBe("s".repeat(32));
	});
});

describe("throttles and revocation list", () => {
	it("LoginThrottle: N failures per account and address, 4N per account, cleared by success, forgotten after the window", () => {
		const t = new LoginThrottle(3, 1000);
		const now = 1_000_000;
		for (let i = 0; i < 3; i++) {
			expect(t.retryAfter("a@x.io", "1.1.1.1", now)).toBe(0);
			t.fail("a@x.io", "1.1.1.1", now);
		}
		expect(t.retryAfter("a@x.io", "1.1.1.1", now)).toBe(1);
		expect(t.retryAfter("a@x.io", "2.2.2.2", now)).toBe(0);
		expect(t.retryAfter("a@x.io", "1.1.1.1", now + 1000)).toBe(0);
		const u = new LoginThrottle(2, 60_000);
		for (let i = 0; i < 8; i++) u.fail("b@x.io", `10.0.0.${i}`, now);
		expect(u.retryAfter("b@x.io", "10.9.9.9", now)).toBe(60);
		const v = new LoginThrottle(2, 60_000);
		v.fail("c@x.io", "1.1.1.1", now);
		v.succeed("c@x.io", "1.1.1.1");
		v.fail("c@x.io", "1.1.1.1", now);
		expect(v.retryAfter("c@x.io", "1.1.1.1", now)).toBe(0);
	});

	it("LoginThrottle.attempt counts before the password check, so a burst cannot slip past the limit", () => {
		const t = new LoginThrottle(3, 60_000);
		// 20 guesses arriving together, each checked before any verification finished.
		const waits = Array.from({ length: 20 }, () => t.attempt("d@x.io", "1.1.1.1", 0));
		expect(waits.filter(w => w === 0)).toHaveLength(3);
		// A success un-counts its own attempt and clears the address's count.
		const u = new LoginThrottle(3, 60_000);
		expect(u.attempt("e@x.io", "1.1.1.1", 0)).toBe(0);
		u.succeed("e@x.io", "1.1.1.1");
		for (let i = 0; i < 3; i++) expect(u.attempt("e@x.io", "1.1.1.1", 0)).toBe(0);
		expect(u.attempt("e@x.io", "1.1.1.1", 0)).toBeGreaterThan(0);
	});

	it("WindowLimiter counts per key and says how long to wait", () => {
		const l = new WindowLimiter(2, 10_000);
		expect([l.hit("k", 0), l.hit("k", 1), l.hit("k", 2)]).toEqual([0, 0, 10]);
		expect(l.hit("other", 2)).toBe(0);
		expect(l.hit("k", 10_001)).toBe(0);
	});

	it("RevocationList keeps a token only until it would have expired", () => {
		const r = new RevocationList();
		const now = Math.floor(Date.now() / 1000);
		r.add("live", now + 60);
		r.add("already-expired", now - 1);
		expect(r.has("live")).toBe(true);
		expect(r.has("already-expired")).toBe(false);
		r.merge([{ jti: "soon", exp: now + 1 }]);
		expect(r.purge(Date.now() + 5000)).toBe(1);
		expect(r.list()).toEqual([{ jti: "live", exp: now + 60 }]);
	});
});

describe("gateway access rules", () => {
	it("authLevelOf: default user, declared levels, operations endpoints, unknown values fail closed", () => {
		expect(authLevelOf(undefined, false)).toBe("user");
		expect(authLevelOf({ name: "x.y" }, false)).toBe("user");
		expect(authLevelOf({ name: "x.y", auth: "public" }, false)).toBe("public");
		expect(authLevelOf({ name: "x.y", auth: "admin" }, false)).toBe("admin");
		expect(authLevelOf({ name: "x.y", auth: "admins" }, false)).toBe("admin");
		expect(authLevelOf({ name: "gateway.health" }, true)).toBe("public");
		expect(authLevelOf({ name: "gateway.ready" }, true)).toBe("public");
		expect(authLevelOf({ name: "gateway.metrics" }, false)).toBe("public");
		expect(authLevelOf({ name: "gateway.metrics" }, true)).toBe("admin");
	});

	it("parseBearer accepts only 'Bearer <token>'", () => {
		expect(parseBearer("Bearer abc.def.ghi")).toEqual({ token: "abc.def.ghi" });
		expect(parseBearer("bearer abc")).toEqual({ token: "abc" });
		expect(parseBearer(undefined)).toMatchObject({ type: "NO_TOKEN" });
		expect(parseBearer("abc.def.ghi")).toMatchObject({ type: "INVALID_TOKEN" });
		expect(parseBearer("Basic dXNlcjpwdw==")).toMatchObject({ type: "INVALID_TOKEN" });
		expect(parseBearer("Bearer a b")).toMatchObject({ type: "INVALID_TOKEN" });
		expect(parseBearer(["Bearer a", "Bearer b"])).toMatchObject({ type: "INVALID_TOKEN" });
		expect(parseBearer("Bearer " + "x".repeat(5000))).toMatchObject({ type: "INVALID_TOKEN" });
	});

	it("security headers and CORS decisions", () => {
		const h = securityHeaders({ secure: false, api: true });
		expect(h["X-Content-Type-Options"]).toBe("nosniff");
		expect(h["Cache-Control"]).toBe("no-store");
		expect(h["Strict-Transport-Security"]).toBeUndefined();
		expect(securityHeaders({ secure: true, api: false })["Strict-Transport-Security"]).toMatch(/max-age/);
		expect(securityHeaders({ secure: true, api: false })["Cache-Control"]).toBeUndefined();
		expect(allowedOrigin("https://a.example", null)).toBeNull();
		expect(allowedOrigin("https://a.example", ["https://a.example"])).toBe("https://a.example");
		expect(allowedOrigin("https://b.example", ["https://a.example"])).toBeNull();
		expect(allowedOrigin("https://b.example", ["*"])).toBe("*");
		expect(allowedOrigin(undefined, ["*"])).toBeNull();
	});
});
