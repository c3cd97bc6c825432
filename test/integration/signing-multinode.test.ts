/**
 * Revocation across gateway nodes over real NATS: a logout on node A is refused on node B
 * within a second, and a gateway that joins later learns the revoked tokens at once.
 * Node B has no database and no key: it gets signing's public keys (JWKS), users' live state and
 * the revoked list over the mesh. A deleted user and a demoted admin are refused on B within 1 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let db: TestDatabase;
let a: GatewayNode;
let b: GatewayNode;
const late: GatewayNode[] = [];
const namespace = uniqueNamespace("signing-mn");

beforeAll(async () => {
	await requireServer("nats");
	db = await createTestDatabase("signing_mn");
	a = await startGatewayNode({ namespace, nodeID: "node-a", env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url } });
	b = await startGatewayNode({ namespace, nodeID: "node-b", env: { TRANSPORTER: NATS_URL }, signing: false });
	// The mesh learns of a new node about a second after it starts; "within a second" is about a joined mesh.
	await waitFor(
		() => (a.broker.registry as any).getNodeList({}).some((n: any) => n.id === "node-b" && n.available),
		10_000,
		"node A seeing node B"
	);
}, 60_000);

afterAll(async () => {
	for (const n of late) await n.stop();
	await b?.stop();
	await a?.stop();
	await db?.drop();
});

describe("token revocation across gateway nodes", () => {
	it("a token revoked on node A is refused on node B within a second", async () => {
		expect(
			(await api(a.url, "POST", "/api/users/add", { email: "multi@example.com", password: "violet-canyon-77" }))
				.status
		).toBe(201);
		for (let round = 0; round < 3; round++) {
			const token = await login(b.url, "multi@example.com", "violet-canyon-77");
			// B checks it (with the public keys from signing.jwks over NATS).
			expect((await api(b.url, "GET", "/api/users/me", undefined, token)).status).toBe(200);
			expect((await api(a.url, "POST", "/api/users/logout", {}, token)).status).toBe(200);
			const t0 = Date.now();
			await waitFor(
				async () => (await api(b.url, "GET", "/api/users/me", undefined, token)).status === 401,
				1000,
				"node B refusing the revoked token"
			);
			const elapsed = Date.now() - t0;
			expect(elapsed).toBeLessThan(1000);
			const r = await api(b.url, "GET", "/api/users/me", undefined, token);
			expect(r.body.type).toBe("TOKEN_REVOKED");
		}
	});

	it("a deleted user is 401, a demoted admin 403 on node B within 1 s; a promoted one is admin at once", async () => {
		const admin = await login(a.url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const reg = await api(a.url, "POST", "/api/users/add", {
			email: "doomed@example.com",
			password: "amber-forest-31"
		});
		const doomed = await login(b.url, "doomed@example.com", "amber-forest-31");
		expect((await api(b.url, "GET", "/api/users/me", undefined, doomed)).status).toBe(200);
		// Promote: the same token is an admin's on B, without logging in again.
		expect((await api(a.url, "PUT", `/api/users/${reg.body.id}/role`, { role: "admin" }, admin)).status).toBe(200);
		await waitFor(
			async () => (await api(b.url, "GET", "/api/users", undefined, doomed)).status === 200,
			1000,
			"B admitting the promoted user"
		);
		// Demote on A: refused on B within a second.
		expect((await api(a.url, "PUT", `/api/users/${reg.body.id}/role`, { role: "user" }, admin)).body.role).toBe(
			"user"
		);
		let t0 = Date.now();
		await waitFor(
			async () => (await api(b.url, "GET", "/api/users", undefined, doomed)).status === 403,
			1000,
			"B refusing the demoted admin"
		);
		expect(Date.now() - t0).toBeLessThan(1000);
		expect((await api(b.url, "GET", "/api/users/me", undefined, doomed)).body.role).toBe("user");
		// Delete on A: 401 on B within a second.
		expect((await api(a.url, "DELETE", `/api/users/${reg.body.id}`, undefined, admin)).status).toBe(200);
		t0 = Date.now();
		await waitFor(
			async () => (await api(b.url, "GET", "/api/users/me", undefined, doomed)).status === 401,
			1000,
			"B refusing the deleted user"
		);
		expect(Date.now() - t0).toBeLessThan(1000);
		expect((await api(b.url, "GET", "/api/users/me", undefined, doomed)).body.type).toBe("USER_DELETED");
		expect((await api(a.url, "DELETE", `/api/users/${reg.body.id}`, undefined, admin)).status).toBe(404);
	});

	it("password change needs the old password and ends every session; an admin reset does too", async () => {
		const admin = await login(a.url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const reg = await api(a.url, "POST", "/api/users/add", {
			email: "mover@example.com",
			password: "silver-river-64"
		});
		const s1 = await login(a.url, "mover@example.com", "silver-river-64");
		const s2 = await login(b.url, "mover@example.com", "silver-river-64");
		expect(
			(
				await api(
					b.url,
					"POST",
					"/api/users/me/password",
					{ oldPassword: "wrong-password-1", newPassword: "copper-hill-85" },
					s2
				)
			).status
		).toBe(422);
		expect((await api(b.url, "POST", "/api/users/me/password", { newPassword: "copper-hill-85" }, s2)).status).toBe(
			422
		);
		expect(
			(
				await api(
					b.url,
					"POST",
					"/api/users/me/password",
					{ oldPassword: "silver-river-64", newPassword: "copper-hill-85" },
					s2
				)
			).status
		).toBe(200);
		await waitFor(
			async () => (await api(a.url, "GET", "/api/users/me", undefined, s1)).status === 401,
			1000,
			"old sessions refused on A"
		);
		expect((await api(b.url, "GET", "/api/users/me", undefined, s2)).status).toBe(401);
		expect(
			(await api(a.url, "POST", "/api/users/auth", { email: "mover@example.com", password: "silver-river-64" }))
				.status
		).toBe(401);
		const s3 = await login(b.url, "mover@example.com", "copper-hill-85");
		expect((await api(a.url, "GET", "/api/users/me", undefined, s3)).status).toBe(200);
		// Admin reset: a generated password shown once; the user's sessions end.
		const reset = await api(b.url, "POST", `/api/users/${reg.body.id}/reset-password`, {}, admin);
		expect(reset.status).toBe(200);
		expect(reset.body.password).toEqual(expect.any(String));
		await waitFor(
			async () => (await api(b.url, "GET", "/api/users/me", undefined, s3)).status === 401,
			1000,
			"sessions ended by the reset"
		);
		expect(
			(await api(a.url, "POST", "/api/users/auth", { email: "mover@example.com", password: reset.body.password }))
				.status
		).toBe(200);
		expect((await api(b.url, "POST", `/api/users/${reg.body.id}/reset-password`, {}, s3)).status).toBe(401);
	});

	it("the last administrator can be neither demoted nor deleted", async () => {
		const admin = await login(a.url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const me = (await api(a.url, "GET", "/api/users/me", undefined, admin)).body;
		expect((await api(a.url, "PUT", `/api/users/${me.id}/role`, { role: "user" }, admin)).status).toBe(409);
		expect((await api(a.url, "DELETE", `/api/users/${me.id}`, undefined, admin)).status).toBe(409);
	});

	it("a login throttled by the signing node answers 429 with Retry-After through another gateway node", async () => {
		await api(a.url, "POST", "/api/users/add", { email: "victim@example.com", password: "golden-sunset-12" });
		const statuses: number[] = [];
		for (let i = 0; i < 6; i++)
			statuses.push(
				(
					await api(b.url, "POST", "/api/users/auth", {
						email: "victim@example.com",
						password: `wrong-guess-${i}`
					})
				).status
			);
		expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
		const r = await api(b.url, "POST", "/api/users/auth", {
			email: "victim@example.com",
			password: "golden-sunset-12"
		});
		expect(r.status).toBe(429);
		expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
	});

	it("a gateway that starts after the logout refuses the token from its first request", async () => {
		const token = await login(a.url, "multi@example.com", "violet-canyon-77");
		expect((await api(a.url, "POST", "/api/users/logout", {}, token)).status).toBe(200);
		const c = await startGatewayNode({
			namespace,
			nodeID: "node-c",
			env: { TRANSPORTER: NATS_URL },
			signing: false
		});
		late.push(c);
		const r = await api(c.url, "GET", "/api/users/me", undefined, token);
		expect(r.status).toBe(401);
		expect(r.body.type).toBe("TOKEN_REVOKED");
		const fresh = await login(c.url, "multi@example.com", "violet-canyon-77");
		expect((await api(c.url, "GET", "/api/users/me", undefined, fresh)).status).toBe(200);
	});

	it("a gateway with no signing service on the mesh fails closed (503), public /health stays up", async () => {
		const lone = await startGatewayNode({
			namespace: uniqueNamespace("signing-lone"),
			env: { TRANSPORTER: NATS_URL },
			signing: false,
			waitForRoutes: false
		});
		late.push(lone);
		// Its routes are up once they answer neither 404 nor the start-up 503 NOT_READY.
		await waitFor(
			async () => {
				const r = await api(lone.url, "GET", "/api/nodes");
				return r.status !== 404 && r.body?.type !== "NOT_READY";
			},
			10_000,
			"gateway routes"
		);
		const token = await login(a.url, "multi@example.com", "violet-canyon-77");
		const r = await api(lone.url, "GET", "/api/nodes", undefined, token);
		expect(r.status).toBe(503);
		expect(r.body.message).toMatch(/signing service is not reachable/);
		expect((await api(lone.url, "GET", "/health")).status).toBe(200);
	});

	it("runs last: signing restarted with a new generated key; gateway B fetches the new key by itself", async () => {
		const before = await login(b.url, "multi@example.com", "violet-canyon-77");
		await a.stop();
		// A signing node with its own DATA_DIR, hence a newly generated key pair.
		const a2 = await startGatewayNode({
			namespace,
			nodeID: "node-a2",
			env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url },
			gateway: false
		});
		late.push(a2);
		const fresh = await waitFor(
			async () => {
				const r = await api(b.url, "POST", "/api/users/auth", {
					email: "multi@example.com",
					password: "violet-canyon-77"
				});
				return r.status === 200 ? (r.body.access_token as string) : null;
			},
			15_000,
			"login through B served by the new signing node"
		);
		// B still holds the old key; within the refetch interval it refuses, then it fetches the new one.
		await waitFor(
			async () => (await api(b.url, "GET", "/api/users/me", undefined, fresh)).status === 200,
			15_000,
			"B accepting a token of the new key"
		);
		// A token of the old key is now refused with the reason.
		const old = await api(b.url, "GET", "/api/users/me", undefined, before);
		expect(old.status).toBe(401);
		expect(old.body.message).toMatch(/not signed by a current signing key/);
	}, 60_000);
});
