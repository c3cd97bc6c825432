/**
 * Live push over Socket.IO through the real parts: two gateway nodes and a monitoring node on
 * NATS, the signing service for tokens, PostgreSQL, socket.io-client as the browser.
 *  - no token or a revoked token is refused;
 *  - a user may join only rooms of devices they own, and receives readings of joined rooms only;
 *  - readings reach sockets on a gateway node other than the one next to monitoring;
 *  - a fast device is throttled per room.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { io, type Socket } from "socket.io-client";
import GatewayService from "../../services/gateway/gateway.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import SigningService from "../../services/signing/signing.service";
import type { Database } from "../../mixins/db.mixin";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";

const ADMIN_EMAIL = "live-admin@example.com";
const ADMIN_PASSWORD = "Orchid-falcon-7319";
const OWNER_EMAIL = "live-owner@example.com";
const OWNER_PASSWORD = "Granite-heron-5521";

function gatewayUrl(broker: ServiceBroker): string {
	const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
	return `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
}

async function post(url: string, path: string, body: unknown, token?: string) {
	const res = await fetch(url + path, {
		method: "POST",
		headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
		body: JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

/** Connects and resolves on connect, rejects with the refusal. */
function connect(url: string, token?: string): Promise<Socket> {
	return new Promise((resolve, reject) => {
		const s = io(url, {
			auth: token ? { token } : {},
			transports: ["websocket"],
			reconnection: false,
			forceNew: true
		});
		s.once("connect", () => resolve(s));
		s.once("connect_error", err => {
			s.close();
			reject(err);
		});
	});
}

function call(s: Socket, action: string, params: unknown): Promise<any> {
	return new Promise((resolve, reject) =>
		s.emit("call", action, params, (err: any, res: any) =>
			err ? reject(Object.assign(new Error(err.message), err)) : resolve(res)
		)
	);
}

describe("monitoring live push over Socket.IO (2 gateways, NATS, PostgreSQL)", () => {
	let pg: TestDatabase;
	let core: ServiceBroker; // signing + gateway + monitoring
	let edge: ServiceBroker; // a second gateway only
	let coreUrl: string;
	let edgeUrl: string;
	let db: Database;
	let ownerToken: string;
	let adminToken: string;
	let mine: number;
	let theirs: number;
	let dpMine: number;
	let dpTheirs: number;
	const sockets: Socket[] = [];

	const send = (readings: { deviceId: number; datapointId: number; value: number; ts: number }[]) =>
		core.sendToChannel("telemetry.readings", { readings });

	beforeAll(async () => {
		await requireServer("nats");
		pg = await createTestDatabase("monitoring_live");
		const namespace = uniqueNamespace("mon-live");
		const env = {
			DATABASE_URL: pg.url,
			TRANSPORTER: NATS_URL,
			ADMIN_EMAIL,
			ADMIN_PASSWORD,
			AUTH_RATE_LIMIT: "100000",
			LIVE_THROTTLE_MS: "200"
		};
		core = createTestBroker({
			namespace,
			nodeID: "core",
			env,
			services: [SigningService, GatewayService, MonitoringService]
		});
		edge = createTestBroker({ namespace, nodeID: "edge", env, services: [GatewayService] });
		await Promise.all([core.start(), edge.start()]);
		coreUrl = gatewayUrl(core);
		edgeUrl = gatewayUrl(edge);
		db = (core.getLocalService("monitoring") as unknown as { db: Database }).db;

		await waitFor(
			async () =>
				(await post(coreUrl, "/api/users/auth", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).status ===
				200,
			20_000,
			"login route"
		);
		adminToken = (await post(coreUrl, "/api/users/auth", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).body
			.access_token;
		const reg = await post(coreUrl, "/api/users/add", { email: OWNER_EMAIL, password: OWNER_PASSWORD });
		expect(reg.status).toBeLessThan(300);
		ownerToken = (await post(coreUrl, "/api/users/auth", { email: OWNER_EMAIL, password: OWNER_PASSWORD })).body
			.access_token;
		const [owner] = await db.query("SELECT id FROM t_users WHERE email = $1", [OWNER_EMAIL]);

		const [a] = await db.query(
			"INSERT INTO devices (uid, name, status, owner) VALUES ('live-a', 'Owner board', 'streaming', " +
				"$1) RETURNING id",
			[String(owner.id)]
		);
		const [b] = await db.query(
			"INSERT INTO devices (uid, name, status, owner) VALUES ('live-b', 'Other board', 'streaming', " +
				"NULL) RETURNING id"
		);
		mine = Number(a.id);
		theirs = Number(b.id);
		dpMine = Number(
			(
				await db.query(
					"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id",
					[mine]
				)
			)[0].id
		);
		dpTheirs = Number(
			(
				await db.query(
					"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id",
					[theirs]
				)
			)[0].id
		);
		// The edge gateway knows the monitoring actions once discovery has run.
		await waitFor(
			() =>
				edge.registry
					.getServiceList({ onlyAvailable: true })
					.some((s: { name: string }) => s.name === "monitoring"),
			15_000,
			"monitoring seen by edge"
		);
	});

	afterAll(async () => {
		for (const s of sockets) s.close();
		await edge?.stop();
		await core?.stop();
		await pg?.drop();
	});

	it("refuses a connection without a token or with a forged one", async () => {
		await expect(connect(coreUrl)).rejects.toThrow();
		await expect(connect(coreUrl, "not-a-jwt")).rejects.toThrow();
	});

	it("lets a user join their own device's room only, and not the alerts room", async () => {
		const s = await connect(coreUrl, ownerToken);
		sockets.push(s);
		await expect(call(s, "monitoring.join", { rooms: [`device:${mine}`] })).resolves.toEqual({
			joined: [`device:${mine}`]
		});
		// A device the user may not see does not exist for it (404, not 403).
		await expect(call(s, "monitoring.join", { rooms: [`device:${theirs}`] })).rejects.toMatchObject({ code: 404 });
		await expect(call(s, "monitoring.join", { rooms: ["alerts"] })).rejects.toMatchObject({ code: 403 });
		await expect(call(s, "monitoring.join", { rooms: ["lobby"] })).rejects.toMatchObject({ code: 422 });
		// Actions outside the whitelist are not callable over the socket.
		await expect(
			call(s, "monitoring.createRule", { datapointId: dpMine, direction: "above", threshold: 1 })
		).rejects.toThrow();
	});

	it("delivers readings of joined rooms only, with labels and units, on both gateway nodes", async () => {
		const owner = await connect(coreUrl, ownerToken);
		const adminOnEdge = await connect(edgeUrl, adminToken);
		sockets.push(owner, adminOnEdge);
		await call(owner, "monitoring.join", { rooms: [`device:${mine}`] });
		await call(adminOnEdge, "monitoring.join", { rooms: [`device:${theirs}`, "alerts"] });
		const ownerGot: any[] = [];
		const adminGot: any[] = [];
		owner.on("readings", m => ownerGot.push(m));
		adminOnEdge.on("readings", m => adminGot.push(m));

		const now = Date.now();
		await send([
			{ deviceId: mine, datapointId: dpMine, value: 21.5, ts: now },
			{ deviceId: theirs, datapointId: dpTheirs, value: 99, ts: now }
		]);
		await waitFor(() => ownerGot.length && adminGot.length, 10_000, "readings on both sockets");
		await new Promise(r => setTimeout(r, 400));
		expect(ownerGot.every(m => m.deviceId === mine)).toBe(true);
		expect(ownerGot[0].readings[0]).toMatchObject({
			datapointId: dpMine,
			label: "temperature",
			unit: "°C",
			value: 21.5,
			ts: now
		});
		expect(adminGot.every(m => m.deviceId === theirs)).toBe(true);
		expect(adminGot[0].readings[0].value).toBe(99);
	});

	it("throttles a fast device per room: many readings, few messages, the latest value kept", async () => {
		const s = await connect(coreUrl, ownerToken);
		sockets.push(s);
		await call(s, "monitoring.join", { rooms: [`device:${mine}`] });
		const got: any[] = [];
		s.on("readings", m => got.push(m));
		const t0 = Date.now();
		// 1,000 readings in 50 batches over about half a second.
		for (let b = 0; b < 50; b++) {
			await send(
				Array.from({ length: 20 }, (_, i) => ({
					deviceId: mine,
					datapointId: dpMine,
					value: b * 20 + i,
					ts: t0 + b * 20 + i
				}))
			);
			await new Promise(r => setTimeout(r, 10));
		}
		await waitFor(
			() => got.some(m => m.readings.some((r: any) => r.value === 999)),
			10_000,
			"last value delivered"
		);
		const elapsed = Date.now() - t0;
		// At most one message per 200 ms throttle interval (plus the immediate first one).
		expect(got.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 2);
		expect(got.length).toBeLessThan(50);
		const values = got.flatMap(m => m.readings.map((r: any) => r.value));
		expect(values).toEqual([...values].sort((a, b) => a - b));
	});

	it("pushes alerts to the alerts room across gateways", async () => {
		const admin = await connect(edgeUrl, adminToken);
		sockets.push(admin);
		await call(admin, "monitoring.join", { rooms: ["alerts"] });
		const alerts: any[] = [];
		admin.on("alert", a => alerts.push(a));
		const rule: any = await core.call("monitoring.createRule", {
			datapointId: dpTheirs,
			direction: "above",
			threshold: 50
		});
		await waitFor(
			async () =>
				((await core.call("monitoring.rules", { datapoint: dpTheirs })) as { items: any[] }).items.length,
			5000,
			"rule visible"
		);
		await send([{ deviceId: theirs, datapointId: dpTheirs, value: 120, ts: Date.now() }]);
		const a = await waitFor(() => alerts.find(x => x.ruleId === rule.id), 10_000, "alert on the edge socket");
		expect(a).toMatchObject({ deviceId: theirs, device: "Other board", severity: "warning", open: true });
	});

	it("relays device status changes to the device's room", async () => {
		const s = await connect(edgeUrl, ownerToken);
		sockets.push(s);
		await call(s, "monitoring.join", { rooms: [`device:${mine}`] });
		const got: any[] = [];
		s.on("device.status", m => got.push(m));
		core.emit("device.status", {
			deviceId: mine,
			nodeID: "core",
			status: "disconnected",
			reason: "unplugged",
			at: new Date().toISOString()
		});
		core.emit("device.status", { deviceId: theirs, nodeID: "core", status: "error", at: new Date().toISOString() });
		await waitFor(() => got.length, 10_000, "device.status on the socket");
		await new Promise(r => setTimeout(r, 300));
		expect(got).toEqual([expect.objectContaining({ deviceId: mine, status: "disconnected", reason: "unplugged" })]);
	});

	it("serves the HTTP routes with the same rules: token required, own devices only", async () => {
		const get = (p: string, token?: string) =>
			fetch(coreUrl + p, { headers: token ? { authorization: `Bearer ${token}` } : {} });
		// Stored rows, as the pipeline sink writes them (no sink runs in this test).
		const t = Date.now() - 60_000;
		for (let i = 0; i < 3; i++) {
			await db.query(
				"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4)",
				[new Date(t + i * 1000).toISOString(), mine, dpMine, 20 + i]
			);
		}
		await db.query("INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, 50)", [
			new Date(t).toISOString(),
			theirs,
			dpTheirs
		]);
		expect((await get("/api/monitoring/alerts")).status).toBe(401);
		expect((await get(`/api/monitoring/data/${theirs}`, ownerToken)).status).toBe(404);
		const own = await get(`/api/monitoring/data/${mine}?from=-1h&limit=2`, ownerToken);
		expect(own.status).toBe(200);
		const page = (await own.json()) as any;
		expect(page.items).toHaveLength(2);
		expect(page.items[0]).toMatchObject({ deviceId: mine, datapoint: "temperature", unit: "°C" });
		expect(page.nextCursor).toEqual(expect.any(String));
		const stats = await get(`/api/monitoring/stats?from=-1h&bucket=1m&datapoint=temperature`, adminToken);
		expect(stats.status).toBe(200);
		const body = (await stats.json()) as any;
		expect(body.datapoints.map((d: any) => d.deviceId).sort()).toEqual([mine, theirs].sort());
		expect((await get(`/api/monitoring/stats?bucket=often`, adminToken)).status).toBe(422);
	});

	it("refuses a revoked token and drops its open sockets", async () => {
		const token = (await post(coreUrl, "/api/users/auth", { email: OWNER_EMAIL, password: OWNER_PASSWORD })).body
			.access_token;
		const s = await connect(edgeUrl, token);
		sockets.push(s);
		const dropped = new Promise<void>(r => s.once("disconnect", () => r()));
		expect((await post(coreUrl, "/api/users/logout", {}, token)).status).toBe(200);
		await dropped;
		await expect(connect(edgeUrl, token)).rejects.toThrow();
		await expect(connect(coreUrl, token)).rejects.toThrow();
	});
});
