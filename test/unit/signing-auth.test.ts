/** Plain functions of the signing service and the gateway's auth mixin. */
import fs from "node:fs";
import path from "node:path";
import { SignJWT, UnsecuredJWT, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { allowedOrigin, authLevelOf, parseBearer, securityHeaders } from "../../services/gateway/auth.mixin";
import { keysFromJwks, verifyAccessToken } from "../../services/shared/tokens";
import { LoginThrottle, RevocationList } from "../../services/signing/limits";
import {
	emailProblem,
	hashPassword,
	normaliseEmail,
	passwordProblem,
	verifyPassword
} from "../../services/signing/passwords";
import { issueToken, loadOrCreateKeys, rotateKeys } from "../../services/signing/tokens";
import { tempDir } from "../helpers/broker";

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
		for (const bad of [
			"",
			"no-at-sign",
			"@example.com",
			"a@b",
			"a b@example.com",
			"a@example.com' or '1'='1",
			"<x>@example.com",
			"a..b@example.com",
			"a@-example.com",
			"a".repeat(250) + "@example.com"
		]) {
			expect(emailProblem(bad), bad).not.toBeNull();
		}
	});
});

describe("tokens", () => {
	const user = { id: 7, email: "u@example.com", is_admin: false, token_version: 0 };

	it("issues EdDSA tokens with a kid that the one verifier accepts through the public JWKS only", async () => {
		const ring = await loadOrCreateKeys(tempDir("jwks"), null);
		const { token, jti, exp } = await issueToken(ring, user, 600);
		expect(decodeProtectedHeader(token)).toMatchObject({ alg: "EdDSA", kid: ring.kid });
		// The JWKS carries public keys only.
		expect(ring.jwks.keys).toHaveLength(1);
		expect(ring.jwks.keys[0]).not.toHaveProperty("d");
		const v = await verifyAccessToken(keysFromJwks(ring.jwks), token);
		expect(v).toMatchObject({ ok: true, claims: { id: 7, email: user.email, is_admin: false, jti, exp, ver: 0 } });
	});

	it("refuses alg none, HS256 with the public key, other keys, tampering, expiry, bad claims, junk", async () => {
		const ring = await loadOrCreateKeys(tempDir("jwks-bad"), null);
		const keys = keysFromJwks(ring.jwks);
		const other = await loadOrCreateKeys(tempDir("jwks-other"), null);
		const now = Math.floor(Date.now() / 1000);
		const { token } = await issueToken(ring, user, 600);
		const [h, p, s] = token.split(".");
		const forged = { ...JSON.parse(Buffer.from(p, "base64url").toString()), is_admin: true };
		const tampered = `${h}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${s}`;
		const claims = { email: user.email, is_admin: true, ver: 0 };
		const none = new UnsecuredJWT(claims)
			.setSubject("7")
			.setIssuer("fleetmesh")
			.setJti("n")
			.setIssuedAt()
			.setExpirationTime(now + 60)
			.encode();
		const confusion = await new SignJWT(claims)
			.setProtectedHeader({ alg: "HS256", kid: ring.kid })
			.setSubject("7")
			.setIssuer("fleetmesh")
			.setJti("h")
			.setIssuedAt()
			.setExpirationTime(now + 60)
			.sign(new TextEncoder().encode(JSON.stringify(ring.jwks.keys[0])));
		const otherKey = (await issueToken({ ...other, kid: ring.kid }, user, 600)).token;
		const signWith = (c: Record<string, unknown>, build: (j: SignJWT) => SignJWT) =>
			build(new SignJWT(c).setProtectedHeader({ alg: "EdDSA", kid: ring.kid })).sign(
				ring.privateKey as CryptoKey
			);
		const expired = await signWith(claims, j =>
			j
				.setSubject("7")
				.setIssuer("fleetmesh")
				.setJti("e")
				.setIssuedAt(now - 100)
				.setExpirationTime(now - 10)
		);
		const noJti = await signWith(claims, j =>
			j
				.setSubject("7")
				.setIssuer("fleetmesh")
				.setIssuedAt()
				.setExpirationTime(now + 60)
		);
		const wrongIssuer = await signWith(claims, j =>
			j
				.setSubject("7")
				.setIssuer("evil")
				.setJti("i")
				.setIssuedAt()
				.setExpirationTime(now + 60)
		);
		const badClaims = await signWith({ email: 5, is_admin: "yes" }, j =>
			j
				.setSubject("seven")
				.setIssuer("fleetmesh")
				.setJti("c")
				.setIssuedAt()
				.setExpirationTime(now + 60)
		);
		const unknownKid = (await issueToken(other, user, 600)).token;
		const cases: Array<[string, string, RegExp]> = [
			["alg none", none, /algorithm|malformed/i],
			["HS256 with the public key", confusion, /algorithm/],
			["other key, same kid", otherKey, /signature/],
			["unknown kid", unknownKid, /signing key/],
			["tampered", tampered, /signature/],
			["expired", expired, /expired/],
			["no jti", noJti, /claim 'jti'/],
			["wrong issuer", wrongIssuer, /claim 'iss'/],
			["bad claims", badClaims, /claims/],
			["garbage", "a.b.c", /malformed/],
			["empty", "", /missing|malformed/]
		];
		for (const [name, t, msg] of cases) {
			const v = await verifyAccessToken(keys, t);
			expect(v.ok, name).toBe(false);
			if (!v.ok) expect(v.message, name).toMatch(msg);
		}
	});

	it("keeps the keys in DATA_DIR with mode 600, reuses them, rotates with the old public key kept", async () => {
		const dir = tempDir("jwtkeys");
		const r1 = await loadOrCreateKeys(dir, null);
		expect(fs.statSync(path.join(dir, "jwt-keys.json")).mode & 0o777).toBe(0o600);
		expect((await loadOrCreateKeys(dir, null)).kid).toBe(r1.kid);
		const old = (await issueToken(r1, user, 600)).token;
		const r2 = await rotateKeys(dir, 3600);
		expect(r2.kid).not.toBe(r1.kid);
		expect(r2.jwks.keys.map(k => k.kid).sort()).toEqual([r1.kid, r2.kid].sort());
		expect((await verifyAccessToken(keysFromJwks(r2.jwks), old)).ok).toBe(true);
		expect(decodeProtectedHeader((await issueToken(r2, user, 600)).token).kid).toBe(r2.kid);
		expect(fs.statSync(path.join(dir, "jwt-keys.json")).mode & 0o777).toBe(0o600);
		// Past the keep time the retired key is dropped at the next rotation.
		const r3 = await rotateKeys(dir, 0);
		expect(r3.jwks.keys.map(k => k.kid)).toEqual([r3.kid]);
		await expect(loadOrCreateKeys(dir, "not a pem")).rejects.toThrow(/JWT_PRIVATE_KEY/);
	});
});

describe("throttles and revocation list", () => {
	it("LoginThrottle: N failures per account and address, 4N per account; success clears, the window forgets", () => {
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
