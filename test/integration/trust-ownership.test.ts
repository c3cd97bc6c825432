/**
 * The one authorization policy through HTTP and Socket.IO on real PostgreSQL: a user, another
 * user and an admin against every device, monitoring, dead-letter and user route. A foreign or
 * unowned device is 404 to a user (never 403); admins see all and assign owners.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { io, type Socket } from "socket.io-client";
import ManagerService from "../../services/manager/manager.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { freePort } from "../helpers/ports";
import type { Database } from "../../mixins/db.mixin";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let pg: TestDatabase;
let db: Database;
let node: GatewayNode;
let admin: string;
let alice: string;
let bob: string;
let aliceId: number;
let bobId: number;
let devA: number; // alice's
let devB: number; // bob's
let devU: number; // plugged: no one's
const sockets: Socket[] = [];

async function register(email: string): Promise<{ token: string; id: number }> {
	const password = "Orchid-lantern-5512";
	const r = await api(node.url, "POST", "/api/users/add", { email, password });
	expect(r.status).toBe(201);
	return { token: await login(node.url, email, password), id: r.body.id };
}

beforeAll(async () => {
	pg = await createTestDatabase("trust_owner");
	node = await startGatewayNode({
		namespace: uniqueNamespace("trust-owner"),
		env: { DATABASE_URL: pg.url, MQTT_PORT: String(await freePort()), MQTTS_PORT: String(await freePort()) },
		extra: [ManagerService, MonitoringService, ...PIPELINE_SERVICES]
	});
	db = (node.broker.getLocalService("manager") as unknown as { db: Database }).db;
	admin = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
	await waitFor(
		async () => (await api(node.url, "GET", "/api/devices", undefined, admin)).status === 200,
		15_000,
		"manager routes"
	);
	await waitFor(
		async () => (await api(node.url, "GET", "/api/pipeline/dead-letters", undefined, admin)).status === 200,
		15_000,
		"pipeline routes"
	);
	({ token: alice, id: aliceId } = await register("alice@example.com"));
	({ token: bob, id: bobId } = await register("bob@example.com"));
	devA = (await api(node.url, "POST", "/api/devices", { name: "Alice board", mac: "02:00:00:00:0a:01" }, alice)).body
		.id;
	devB = (await api(node.url, "POST", "/api/devices", { name: "Bob board" }, bob)).body.id;
	// A plugged or simulated device is registered by a service, with no user: it belongs to no one.
	devU = ((await node.broker.call("manager.create", { name: "Plugged board" })) as { id: number }).id;
	await db.query(
		"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C'), ($2, 'temperature', '°C')",
		[devA, devB]
	);
});

afterAll(async () => {
	for (const s of sockets) s.close();
	await node?.stop();
	await pg?.drop();
});

// A list answer (docs/api.md): `{ items, nextCursor, total? }`.
const ids = (body: { items: Array<{ id: number }> }) => body.items.map(d => d.id).sort((a, b) => a - b);

describe("device ownership", () => {
	it("a device a user registers is its own; a service-registered device is no one's", async () => {
		const a = await api(node.url, "GET", `/api/devices/${devA}`, undefined, alice);
		expect(a.status).toBe(200);
		expect(a.body.owner).toBe(aliceId);
		expect((await api(node.url, "GET", `/api/devices/${devU}`, undefined, admin)).body.owner).toBeNull();
	});

	it("users list only their own devices, admins all", async () => {
		expect(ids((await api(node.url, "GET", "/api/devices", undefined, alice)).body)).toEqual([devA]);
		expect(ids((await api(node.url, "GET", "/api/devices", undefined, bob)).body)).toEqual([devB]);
		// The admin sees these and the seeded controllers (no one's).
		expect(ids((await api(node.url, "GET", "/api/devices", undefined, admin)).body)).toEqual(
			expect.arrayContaining([devA, devB, devU])
		);
	});

	it("a foreign or unowned device is 404 on every device route, and is left untouched", async () => {
		for (const id of [devA, devU]) {
			const routes: Array<[string, string, unknown?]> = [
				["GET", `/api/devices/${id}`],
				["PUT", `/api/devices/${id}`, { name: "taken" }],
				["PUT", `/api/devices/${id}`, { owner: bobId }],
				["DELETE", `/api/devices/${id}`],
				["GET", `/api/devices/${id}/status`],
				["POST", `/api/devices/${id}/events`, { type: "note" }],
				["GET", `/api/monitoring/data/${id}`],
				["GET", `/api/monitoring/devices?device=${id}`]
			];
			for (const [method, path, body] of routes) {
				const r = await api(node.url, method, path, body, bob);
				if (path.startsWith("/api/monitoring/devices")) {
					expect(r.status, `${method} ${path}`).toBe(200);
					expect(r.body, `${method} ${path}`).toEqual({ items: [], nextCursor: null });
				} else {
					expect(r.status, `${method} ${path}`).toBe(404);
					expect(r.body.type).toBe("NOT_FOUND");
				}
			}
		}
		const a = await api(node.url, "GET", `/api/devices/${devA}`, undefined, admin);
		expect(a.body).toMatchObject({ name: "Alice board", owner: aliceId });
		// The same answer as for an id that does not exist: no existence oracle.
		const none = await api(node.url, "GET", "/api/devices/999999", undefined, bob);
		expect(none.status).toBe(404);
	});

	it("users cannot take a device over or plant one on someone else", async () => {
		expect((await api(node.url, "PUT", `/api/devices/${devA}`, { owner: bobId }, alice)).status).toBe(403);
		expect((await api(node.url, "PUT", `/api/devices/${devA}`, { owner: "me" }, alice)).status).toBe(422);
		expect((await api(node.url, "POST", "/api/devices", { name: "Gift", owner: aliceId }, bob)).status).toBe(403);
		expect((await api(node.url, "POST", "/api/devices", { name: "Orphan", owner: null }, bob)).status).toBe(403);
		expect(ids((await api(node.url, "GET", "/api/devices", undefined, alice)).body)).toEqual([devA]);
	});

	it("an admin assigns an owner, moves it, and clears it with null", async () => {
		expect((await api(node.url, "PUT", `/api/devices/${devU}`, { owner: 99999 }, admin)).status).toBe(422);
		const assigned = await api(node.url, "PUT", `/api/devices/${devU}`, { owner: aliceId }, admin);
		expect(assigned.status).toBe(200);
		expect(assigned.body.owner).toBe(aliceId);
		expect((await api(node.url, "GET", `/api/devices/${devU}`, undefined, alice)).status).toBe(200);
		expect((await api(node.url, "PUT", `/api/devices/${devU}`, { owner: bobId }, admin)).body.owner).toBe(bobId);
		expect((await api(node.url, "GET", `/api/devices/${devU}`, undefined, alice)).status).toBe(404);
		expect((await api(node.url, "GET", `/api/devices/${devU}/status`, undefined, bob)).status).toBe(200);
		expect((await api(node.url, "PUT", `/api/devices/${devU}`, { owner: null }, admin)).body.owner).toBeNull();
		expect((await api(node.url, "GET", `/api/devices/${devU}`, undefined, bob)).status).toBe(404);
	});

	it("owners manage their own device on every route", async () => {
		expect((await api(node.url, "PUT", `/api/devices/${devB}`, { name: "Bob's bench" }, bob)).body.name).toBe(
			"Bob's bench"
		);
		expect((await api(node.url, "POST", `/api/devices/${devB}/events`, { type: "note" }, bob)).status).toBe(200);
		expect((await api(node.url, "GET", `/api/devices/${devB}/status`, undefined, bob)).body.events[0].type).toBe(
			"note"
		);
		expect((await api(node.url, "GET", `/api/monitoring/data/${devB}`, undefined, bob)).status).toBe(200);
		expect(ids((await api(node.url, "GET", "/api/monitoring/devices", undefined, bob)).body)).toEqual([devB]);
		const extra = (await api(node.url, "POST", "/api/devices", { name: "Spare" }, bob)).body.id;
		expect((await api(node.url, "DELETE", `/api/devices/${extra}`, undefined, bob)).status).toBe(200);
		expect((await api(node.url, "GET", `/api/devices/${extra}`, undefined, admin)).status).toBe(404);
	});

	it("monitoring rules of a foreign device's datapoint are 404", async () => {
		const [dpA] = await db.query<{ id: number }>("SELECT id FROM datapoints WHERE device_id = $1", [devA]);
		expect(
			(
				await api(
					node.url,
					"POST",
					"/api/monitoring/rules",
					{ datapointId: dpA.id, direction: "above", threshold: 1 },
					bob
				)
			).status
		).toBe(404);
		const mine = await api(
			node.url,
			"POST",
			"/api/monitoring/rules",
			{ datapointId: dpA.id, direction: "above", threshold: 1 },
			alice
		);
		expect(mine.status).toBe(201);
		expect((await api(node.url, "GET", "/api/monitoring/rules", undefined, bob)).body).toEqual({
			items: [],
			nextCursor: null
		});
		expect((await api(node.url, "DELETE", `/api/monitoring/rules/${mine.body.id}`, undefined, bob)).status).toBe(
			404
		);
	});

	it("Socket.IO: a foreign device's room is 404", async () => {
		const s = io(node.url, {
			auth: { token: bob },
			transports: ["websocket"],
			reconnection: false,
			forceNew: true
		});
		sockets.push(s);
		await new Promise<void>((resolve, reject) => {
			s.once("connect", () => resolve());
			s.once("connect_error", reject);
		});
		const call = (rooms: string[]) =>
			new Promise<any>(resolve =>
				s.emit("call", "monitoring.join", { rooms }, (err: any, res: any) => resolve(err ?? res))
			);
		expect(await call([`device:${devA}`])).toMatchObject({ code: 404 });
		expect(await call([`device:${devB}`])).toEqual({ joined: [`device:${devB}`] });
	});

	it("dead letters and users are administrators' only", async () => {
		for (const token of [alice, bob]) {
			expect((await api(node.url, "GET", "/api/pipeline/dead-letters", undefined, token)).status).toBe(403);
			expect((await api(node.url, "POST", "/api/pipeline/dead-letters/replay", {}, token)).status).toBe(403);
			expect((await api(node.url, "GET", "/api/users", undefined, token)).status).toBe(403);
			expect((await api(node.url, "GET", `/api/users/${aliceId}`, undefined, token)).status).toBe(403);
		}
		expect((await api(node.url, "GET", "/api/pipeline/dead-letters", undefined, admin)).status).toBe(200);
		expect((await api(node.url, "GET", "/api/users", undefined, admin)).body.total).toBe(3);
	});

	it("the policy holds where the action runs: a user in meta is refused an admin action even off HTTP", async () => {
		await expect(
			node.broker.call(
				"pipeline-decode.deadLetters",
				{},
				{ meta: { user: { id: bobId, email: "bob@example.com", is_admin: false } } }
			)
		).rejects.toMatchObject({ code: 403 });
		await expect(
			node.broker.call(
				"manager.access",
				{ id: devA },
				{ meta: { user: { id: bobId, email: "bob@example.com", is_admin: false } } }
			)
		).rejects.toMatchObject({ code: 404 });
		await expect(
			node.broker.call(
				"manager.access",
				{ id: devA },
				{ meta: { user: { id: aliceId, email: "alice@example.com", is_admin: false } } }
			)
		).resolves.toMatchObject({ id: devA, owner: aliceId });
	});
});
