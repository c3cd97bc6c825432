/**
 * The signing service behind the real gateway over HTTP, on a real PostgreSQL database:
 * register, login, use, logout, refusals, admin-only routes, rate limits, input limits,
 * certificates, CORS and security headers.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "pg";
import { SignJWT, generateKeyPair } from "jose";
import { verifyCertificate } from "../../services/signing/ca";
import { createKeyAndCsr } from "../../services/shared/csr";
import { deleteRedisKeys } from "../helpers/cleanup";
import { REDIS_URL, requireServer } from "../helpers/servers";
import { uniqueNamespace } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let db: TestDatabase;
let node: GatewayNode;
let url: string;

async function userCount(): Promise<number> {
	const c = new Client({ connectionString: db.url });
	await c.connect();
	try {
		return (await c.query("SELECT count(*)::int AS n FROM t_users")).rows[0].n;
	} finally {
		await c.end();
	}
}

beforeAll(async () => {
	db = await createTestDatabase("signing_gw");
	node = await startGatewayNode({
		namespace: uniqueNamespace("signing-gw"),
		env: {
			DATABASE_URL: db.url,
			CORS_ORIGINS: "https://dash.example.com",
			METRICS_AUTH: "1",
			METRICS_TOKEN: "prometheus-scrape-token"
		}
	});
	url = node.url;
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await db?.drop();
});

describe("signing through the gateway", () => {
	it("register, login, use, logout; the token is refused after logout", async () => {
		const reg = await api(url, "POST", "/api/users/add", {
			email: "  Alice@Example.COM ",
			password: "correct-horse-7"
		});
		expect(reg.status).toBe(201);
		expect(reg.body).toMatchObject({ email: "alice@example.com", role: "user" });
		expect(reg.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
		expect(JSON.stringify(reg.body)).not.toMatch(/argon2|password/i);

		const auth = await api(url, "POST", "/api/users/auth", {
			email: "alice@example.com",
			password: "correct-horse-7"
		});
		expect(auth.status).toBe(200);
		expect(auth.body).toMatchObject({ token_type: "bearer", expires_in: 3600 });
		const token = auth.body.access_token as string;
		const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
		expect(payload).toMatchObject({ email: "alice@example.com", is_admin: false, sub: String(reg.body.id) });
		expect(typeof payload.jti).toBe("string");
		expect(payload.exp - payload.iat).toBe(3600);

		const me = await api(url, "GET", "/api/users/me", undefined, token);
		expect(me.status).toBe(200);
		expect(me.body).toMatchObject({ id: reg.body.id, email: "alice@example.com", role: "user" });

		const verify = await api(url, "POST", "/api/users/verify-token", { token });
		expect(verify.body).toMatchObject({ valid: true, user: { email: "alice@example.com", role: "user" } });
		expect(verify.body.expiresAt).toBe(new Date(payload.exp * 1000).toISOString());

		expect((await api(url, "POST", "/api/users/logout", {}, token)).status).toBe(200);
		const after = await api(url, "GET", "/api/users/me", undefined, token);
		expect(after.status).toBe(401);
		expect(after.body).toMatchObject({ code: 401, type: "TOKEN_REVOKED" });
		expect(after.headers.get("www-authenticate")).toContain("invalid_token");
		expect((await api(url, "POST", "/api/users/logout", {}, token)).status).toBe(401);
		expect((await api(url, "POST", "/api/users/verify-token", { token })).body).toMatchObject({
			valid: false,
			reason: "revoked"
		});

		// Kept in PostgreSQL until it would have expired.
		const c = new Client({ connectionString: db.url });
		await c.connect();
		const rows = (await c.query("SELECT jti, expires_at FROM t_blacklist_tokens WHERE jti = $1", [payload.jti]))
			.rows;
		await c.end();
		expect(rows).toHaveLength(1);
		expect(Math.round(new Date(rows[0].expires_at).getTime() / 1000)).toBe(payload.exp);
	});

	it("a duplicate e-mail (any case) is 409; a weak password is 422 with the rule", async () => {
		await api(url, "POST", "/api/users/add", { email: "bob@example.com", password: "bobs-password-1" });
		const dup = await api(url, "POST", "/api/users/add", { email: "BOB@example.com", password: "another-pass-2" });
		expect(dup.status).toBe(409);
		expect(dup.body.type).toBe("CONFLICT");
		const weak = await api(url, "POST", "/api/users/add", { email: "weak@example.com", password: "short1" });
		expect(weak.status).toBe(422);
		expect(weak.body.message).toMatch(/at least 10 characters/);
		const letters = await api(url, "POST", "/api/users/add", {
			email: "weak@example.com",
			password: "onlyletterspassword"
		});
		expect(letters.status).toBe(422);
		expect(letters.body.message).toMatch(/digit or symbol/);
	});

	it("the first admin exists; admin-only routes answer 403 to a user and 401 without a token", async () => {
		const admin = await login(url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const list = await api(url, "GET", "/api/users?limit=50", undefined, admin);
		expect(list.status).toBe(200);
		expect(list.body.items.find((u: any) => u.email === ADMIN_EMAIL)).toMatchObject({ role: "admin" });
		expect(JSON.stringify(list.body)).not.toMatch(/argon2|"password"/);

		await api(url, "POST", "/api/users/add", { email: "carol@example.com", password: "sunny-meadow-33" });
		const user = await login(url, "carol@example.com", "sunny-meadow-33");
		const forbidden = await api(url, "GET", "/api/users", undefined, user);
		expect(forbidden.status).toBe(403);
		expect(forbidden.body).toMatchObject({ code: 403, type: "FORBIDDEN" });
		const created = await api(url, "POST", "/api/users/add", {
			email: "frank@example.com",
			password: "misty-lagoon-99"
		});
		expect(created.headers.get("location")).toBe(`/api/users/${created.body.id}`);
		expect((await api(url, "GET", created.headers.get("location")!, undefined, admin)).body).toMatchObject({
			email: "frank@example.com"
		});
		expect((await api(url, "GET", created.headers.get("location")!, undefined, user)).status).toBe(403);
		expect((await api(url, "GET", "/api/users/999999", undefined, admin)).status).toBe(404);
		expect((await api(url, "GET", "/api/users/me", undefined, user)).body).toMatchObject({
			email: "carol@example.com"
		});
		expect((await api(url, "POST", "/api/certs/devices", { mac: "aa:bb:cc:dd:ee:01" }, user)).status).toBe(403);
		const anon = await api(url, "GET", "/api/users");
		expect(anon.status).toBe(401);
		expect(anon.body.type).toBe("NO_TOKEN");
		// A route of the gateway itself follows the same rule (no `auth`: a token is needed).
		expect((await api(url, "GET", "/api/nodes")).status).toBe(401);
		expect((await api(url, "GET", "/api/nodes", undefined, user)).status).toBe(200);
	});

	it("refuses every kind of bad token with 401 and a clear message", async () => {
		await api(url, "POST", "/api/users/add", { email: "dave@example.com", password: "quiet-harbor-44" });
		const good = await login(url, "dave@example.com", "quiet-harbor-44");
		const [h, p, s] = good.split(".");
		const claims = JSON.parse(Buffer.from(p, "base64url").toString());
		const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
		// The real signing key (in this process), for a token that is right in every way but its expiry.
		const ring = (
			node.broker.getLocalService("signing") as unknown as {
				keys: { kid: string; privateKey: CryptoKey; jwks: { keys: unknown[] } };
			}
		).keys;
		const { privateKey: stranger } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
		const now = Math.floor(Date.now() / 1000);
		const forged = (alg: string, exp: number) =>
			new SignJWT({ email: claims.email, is_admin: true, ver: claims.ver })
				.setProtectedHeader({ alg, kid: ring.kid })
				.setSubject(claims.sub)
				.setIssuer("fleetmesh")
				.setJti("f1")
				.setIssuedAt(now - 7200)
				.setExpirationTime(exp);

		const cases: Array<[string, string | null, RegExp, Record<string, string>?]> = [
			[
				"alg none",
				`${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, is_admin: true })}.`,
				/algorithm|malformed/i
			],
			[
				"wrong signature",
				`${h}.${p}.${Buffer.from("x".repeat(64)).toString("base64url")}`,
				/signature is invalid/
			],
			["tampered payload", `${h}.${b64({ ...claims, is_admin: true })}.${s}`, /signature is invalid/],
			["expired", await forged("EdDSA", now - 3600).sign(ring.privateKey), /expired/],
			["another key, signing's kid", await forged("EdDSA", now + 600).sign(stranger), /signature is invalid/],
			[
				"HS256 keyed with the public key",
				await forged("HS256", now + 600).sign(new TextEncoder().encode(JSON.stringify(ring.jwks.keys[0]))),
				/algorithm/
			],
			["garbage", "not-a-token-at-all", /malformed/],
			["no Bearer prefix", null, /must be 'Bearer <token>'/, { Authorization: good }],
			["Basic scheme", null, /must be 'Bearer <token>'/, { Authorization: "Basic YWRtaW46YWRtaW4=" }]
		];
		for (const [name, token, message, headers] of cases) {
			const r = await api(url, "GET", "/api/users/me", undefined, token, headers ?? {});
			expect(r.status, name).toBe(401);
			expect(r.body.message, name).toMatch(message);
			expect(["INVALID_TOKEN", "TOKEN_EXPIRED"], name).toContain(r.body.type);
		}
		// The good token still works: none of the above poisoned a cache.
		expect((await api(url, "GET", "/api/users/me", undefined, good)).status).toBe(200);
		// verify-token states the reason too.
		expect((await api(url, "POST", "/api/users/verify-token", { token: cases[3][1] })).body).toMatchObject({
			valid: false,
			reason: "expired"
		});
		expect((await api(url, "POST", "/api/users/verify-token", { token: "garbage" })).body).toMatchObject({
			valid: false,
			reason: "malformed"
		});
	});

	it("brute force against one account ends in 429 with Retry-After, even for the right password", async () => {
		await api(url, "POST", "/api/users/add", { email: "erin@example.com", password: "green-valley-55" });
		const statuses: number[] = [];
		for (let i = 0; i < 8; i++)
			statuses.push(
				(await api(url, "POST", "/api/users/auth", { email: "erin@example.com", password: `guess-${i}-xxxxx` }))
					.status
			);
		expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
		expect(statuses.slice(5)).toEqual([429, 429, 429]);
		const locked = await api(url, "POST", "/api/users/auth", {
			email: "erin@example.com",
			password: "green-valley-55"
		});
		expect(locked.status).toBe(429);
		expect(locked.body.type).toBe("RATE_LIMITED");
		expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
		// A burst of concurrent guesses against a fresh account gets no more than the limit through.
		await api(url, "POST", "/api/users/add", { email: "gina@example.com", password: "copper-kettle-21" });
		const burst = await Promise.all(
			Array.from({ length: 20 }, (_, i) =>
				api(url, "POST", "/api/users/auth", { email: "gina@example.com", password: `burst-guess-${i}` })
			)
		);
		const burstCodes = burst.map(r => r.status);
		expect(burstCodes.filter(c => c === 401)).toHaveLength(5);
		expect(burstCodes.filter(c => c === 429)).toHaveLength(15);
		// Another account from the same address is not affected.
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "dave@example.com", password: "quiet-harbor-44" }))
				.status
		).toBe(200);
	});

	it("duplicate registration under load creates exactly one user", async () => {
		const before = await userCount();
		const results = await Promise.all(
			Array.from({ length: 25 }, () =>
				api(url, "POST", "/api/users/add", { email: "race@example.com", password: "amber-forest-66" })
			)
		);
		const codes = results.map(r => r.status).sort();
		expect(codes.filter(c => c === 201)).toHaveLength(1);
		expect(codes.filter(c => c !== 201).every(c => c === 409)).toBe(true);
		expect(await userCount()).toBe(before + 1);
	});

	it("injection-shaped and over-long inputs get 422 and store nothing", async () => {
		const before = await userCount();
		const bad: unknown[] = [
			{ email: "x@example.com' OR '1'='1", password: "some-password-7" },
			{ email: "'; DROP TABLE t_users; --@example.com", password: "some-password-7" },
			{ email: "<script>alert(1)</script>@example.com", password: "some-password-7" },
			{ email: { $gt: "" }, password: "some-password-7" },
			{ email: "a".repeat(300) + "@example.com", password: "some-password-7" },
			{ email: "long@example.com", password: "P1-" + "x".repeat(200) },
			{ email: "admin2@example.com", password: "some-password-7", role: "admin" },
			{ email: "nul@example.com\u0000", password: "some-password-7" },
			{ email: ["a@example.com"], password: "some-password-7" }
		];
		for (const body of bad) {
			const r = await api(url, "POST", "/api/users/add", body);
			expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(422);
			expect(r.body.type).toBe("VALIDATION_ERROR");
		}
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "a@example.com", password: "x".repeat(10_000) })).status
		).toBe(422);
		expect((await api(url, "POST", "/api/users/verify-token", { token: "x".repeat(5000) })).status).toBe(422);
		// Malformed JSON is a 400, not a crash.
		expect((await api(url, "POST", "/api/users/add", "{not json")).status).toBe(400);
		// Over the body limit: 413.
		expect(
			(
				await api(url, "POST", "/api/users/add", {
					email: "big@example.com",
					password: "y".repeat(2 * 1024 * 1024)
				})
			).status
		).toBe(413);
		expect(await userCount()).toBe(before);
		// The gateway is still serving.
		expect((await api(url, "GET", "/health")).status).toBe(200);
	});

	it("device certificates: admin-only issue, public CA; one validates, another CA's does not", async () => {
		const admin = await login(url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const ca = await api(url, "GET", "/api/certs/ca");
		expect(ca.status).toBe(200);
		expect(ca.body.cert).toContain("BEGIN CERTIFICATE");
		const { csrPem, keyPem } = await createKeyAndCsr("f2-aabbccddee01");
		expect((await api(url, "POST", "/api/certs/devices", { mac: "aa:bb:cc:dd:ee:01", csr: csrPem })).status).toBe(
			401
		);
		// The key pair is the device's: without a request there is no certificate, and no answer carries a key.
		expect((await api(url, "POST", "/api/certs/devices", { mac: "AA:BB:CC:DD:EE:01" }, admin)).status).toBe(422);
		expect(
			(
				await api(
					url,
					"POST",
					"/api/certs/devices",
					{
						mac: "AA:BB:CC:DD:EE:01",
						csr:
							"-----BEGIN CERTIFICATE REQUEST-----\n" +
							"A".repeat(200) +
							"\n-----END CERTIFICATE REQUEST-----"
					},
					admin
				)
			).status
		).toBe(422);
		const issued = await api(url, "POST", "/api/certs/devices", { mac: "AA:BB:CC:DD:EE:01", csr: csrPem }, admin);
		expect(issued.status).toBe(200);
		expect(issued.body.commonName).toBe("f2-aabbccddee01");
		expect(JSON.stringify(issued.body)).not.toContain("PRIVATE KEY");
		// The certificate is for the device's own key.
		expect(new crypto.X509Certificate(issued.body.cert).checkPrivateKey(crypto.createPrivateKey(keyPem))).toBe(
			true
		);
		expect(issued.body.ca).toBe(ca.body.cert);
		expect(await verifyCertificate(issued.body.cert, ca.body.cert)).toBe(true);
		const bad = await api(url, "POST", "/api/certs/devices", { mac: "zz:bb:cc:dd:ee:01", csr: csrPem }, admin);
		expect(bad.status).toBe(422);
		expect(bad.body.message).toMatch(/not a MAC address/);
		// Recorded without the key.
		const c = new Client({ connectionString: db.url });
		await c.connect();
		const rows = (await c.query("SELECT * FROM t_certificates WHERE common_name = 'f2-aabbccddee01'")).rows;
		await c.end();
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ mac: "aa:bb:cc:dd:ee:01", usage: "client" });
		expect(JSON.stringify(rows)).not.toContain("PRIVATE KEY");
		// Internal server certificates for the embedded broker.
		const server = await node.broker.call<any, any>("signing.issueServerCert", {
			commonName: "fleetmesh-mqtt",
			hosts: ["localhost", "127.0.0.1"],
			csr: (await createKeyAndCsr("fleetmesh-mqtt")).csrPem
		});
		expect(server).not.toHaveProperty("key");
		expect(await verifyCertificate(server.cert, ca.body.cert)).toBe(true);
		expect(server.ca).toBe(ca.body.cert);
		// ...which is not published over HTTP.
		expect(
			(await api(url, "POST", "/api/signing/issueServerCert", { commonName: "x", hosts: [] }, admin)).status
		).toBe(404);
	});

	it("operations endpoints: /health and /ready open, /metrics behind METRICS_AUTH", async () => {
		expect((await api(url, "GET", "/health")).status).toBe(200);
		expect((await api(url, "GET", "/ready")).status).toBe(200);
		expect((await api(url, "GET", "/metrics")).status).toBe(401);
		expect((await api(url, "GET", "/metrics", undefined, "prometheus-scrape-token")).status).toBe(200);
		const user = await login(url, "dave@example.com", "quiet-harbor-44");
		expect((await api(url, "GET", "/metrics", undefined, user)).status).toBe(403);
		expect(
			(await api(url, "GET", "/metrics", undefined, await login(url, ADMIN_EMAIL, ADMIN_PASSWORD))).status
		).toBe(200);
	});

	it("security headers on every response; CORS only for configured origins", async () => {
		for (const path of ["/api/certs/ca", "/health", "/no-such-page", "/api/users"]) {
			const r = await fetch(`${url}${path}`);
			expect(r.headers.get("x-content-type-options"), path).toBe("nosniff");
			expect(r.headers.get("x-frame-options"), path).toBe("DENY");
			expect(r.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
			expect(r.headers.get("referrer-policy"), path).toBe("no-referrer");
		}
		expect((await fetch(`${url}/api/certs/ca`)).headers.get("cache-control")).toBe("no-store");

		const pre = await fetch(`${url}/api/users/auth`, {
			method: "OPTIONS",
			headers: {
				Origin: "https://dash.example.com",
				"Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers": "content-type"
			}
		});
		expect(pre.status).toBe(204);
		expect(pre.headers.get("access-control-allow-origin")).toBe("https://dash.example.com");
		expect(pre.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
		const evil = await fetch(`${url}/api/users/auth`, {
			method: "OPTIONS",
			headers: { Origin: "https://evil.example.net", "Access-Control-Request-Method": "POST" }
		});
		expect(evil.status).toBe(403);
		expect(evil.headers.get("access-control-allow-origin")).toBeNull();
		const simple = await fetch(`${url}/api/certs/ca`, { headers: { Origin: "https://evil.example.net" } });
		expect(simple.headers.get("access-control-allow-origin")).toBeNull();
	});

	it("expired revoked-token rows are purged; live ones stay", async () => {
		const c = new Client({ connectionString: db.url });
		await c.connect();
		try {
			await c.query(
				"INSERT INTO t_blacklist_tokens (jti, expires_at) VALUES ('old-1', now() - interval '1 " +
					"hour'), ('live-1', now() + interval '1 hour')"
			);
			await (node.broker.getLocalService("signing") as any).purgeExpired();
			const rows = (
				await c.query("SELECT jti FROM t_blacklist_tokens WHERE jti IN ('old-1', 'live-1')")
			).rows.map(r => r.jti);
			expect(rows).toEqual(["live-1"]);
		} finally {
			await c.end();
		}
	});
});

describe("per-address rate limit at the gateway", () => {
	it("the (AUTH_RATE_LIMIT + 1)th login from one address within a minute is 429 with Retry-After", async () => {
		const limited = await startGatewayNode({
			namespace: uniqueNamespace("signing-rl"),
			env: { DATABASE_URL: db.url, AUTH_RATE_LIMIT: "3" }
		});
		try {
			const statuses: number[] = [];
			// Different accounts each time: this is the address limit, not the account throttle.
			for (let i = 0; i < 5; i++)
				statuses.push(
					(
						await api(limited.url, "POST", "/api/users/auth", {
							email: `nobody${i}@example.com`,
							password: "whatever-pass-1"
						})
					).status
				);
			expect(statuses).toEqual([401, 401, 401, 429, 429]);
			const r = await api(limited.url, "POST", "/api/users/auth", {
				email: ADMIN_EMAIL,
				password: ADMIN_PASSWORD
			});
			expect(r.status).toBe(429);
			expect(r.body).toMatchObject({ code: 429, type: "RATE_LIMITED" });
			const wait = Number(r.headers.get("retry-after"));
			expect(wait).toBeGreaterThan(0);
			expect(wait).toBeLessThanOrEqual(60);
			// Other routes are not limited by it.
			expect((await api(limited.url, "GET", "/api/certs/ca")).status).toBe(200);
		} finally {
			await limited.stop();
		}
	});

	it("with REDIS_URL the limit is shared by every gateway: attempts on two gateways count together", async () => {
		await requireServer("redis");
		const namespace = uniqueNamespace("signing-rl-redis");
		const env = { DATABASE_URL: db.url, AUTH_RATE_LIMIT: "4", REDIS_URL };
		const a = await startGatewayNode({ namespace, nodeID: "rl-a", env });
		const b = await startGatewayNode({ namespace, nodeID: "rl-b", env });
		try {
			const attempt = (n: GatewayNode, i: number) =>
				api(n.url, "POST", "/api/users/auth", { email: `shared${i}@example.com`, password: "whatever-pass-1" });
			const codes = [
				(await attempt(a, 0)).status,
				(await attempt(b, 1)).status,
				(await attempt(a, 2)).status,
				(await attempt(b, 3)).status,
				(await attempt(a, 4)).status,
				(await attempt(b, 5)).status
			];
			// Per instance it would be 4 + 4; shared, the fifth attempt anywhere is refused.
			expect(codes).toEqual([401, 401, 401, 401, 429, 429]);
			expect(Number((await attempt(b, 6)).headers.get("retry-after"))).toBeGreaterThan(0);
		} finally {
			await b.stop();
			await a.stop();
			await deleteRedisKeys(namespace);
		}
	});

	it("TRUST_PROXY=1 keys the limit on the address the proxy appended, never on what the client wrote", async () => {
		const proxied = await startGatewayNode({
			namespace: uniqueNamespace("signing-xff"),
			env: { DATABASE_URL: db.url, AUTH_RATE_LIMIT: "2", TRUST_PROXY: "1" }
		});
		try {
			const attempt = (xff: string) =>
				api(
					proxied.url,
					"POST",
					"/api/users/auth",
					{ email: "xff@example.com", password: "whatever-pass-1" },
					null,
					{ "X-Forwarded-For": xff }
				);
			// The client forges a new first entry each time; the proxy's entry (last) stays the same.
			const codes = [
				(await attempt("1.1.1.1, 10.0.0.1")).status,
				(await attempt("2.2.2.2, 10.0.0.1")).status,
				(await attempt("3.3.3.3, 10.0.0.1")).status
			];
			expect(codes).toEqual([401, 401, 429]);
			// Another client behind the proxy has its own budget.
			expect((await attempt("1.1.1.1, 10.0.0.2")).status).toBe(401);
		} finally {
			await proxied.stop();
		}
		// Without TRUST_PROXY the header is ignored: forging it does not buy attempts.
		const direct = await startGatewayNode({
			namespace: uniqueNamespace("signing-noxff"),
			env: { DATABASE_URL: db.url, AUTH_RATE_LIMIT: "2" }
		});
		try {
			const codes: number[] = [];
			for (const xff of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) {
				codes.push(
					(
						await api(
							direct.url,
							"POST",
							"/api/users/auth",
							{ email: "xff@example.com", password: "whatever-pass-1" },
							null,
							{ "X-Forwarded-For": xff }
						)
					).status
				);
			}
			expect(codes).toEqual([401, 401, 429]);
		} finally {
			await direct.stop();
		}
	});
});
