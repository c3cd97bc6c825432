/**
 * The pipeline's HTTP routes through the real gateway and signing (tokens), PostgreSQL:
 * dead letters and their replay for administrators only, JSON errors with a stable type.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import GatewayService from "../../services/gateway/gateway.service";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import SigningService from "../../services/signing/signing.service";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { freePort } from "../helpers/ports";

const ADMIN_EMAIL = "pipe-admin@example.com";
const ADMIN_PASSWORD = "Basalt-otter-4471";
const USER_EMAIL = "pipe-user@example.com";
const USER_PASSWORD = "Willow-comet-8812";

describe("pipeline HTTP routes (gateway + signing + PostgreSQL)", () => {
	let db: TestDatabase;
	let broker: ServiceBroker;
	let url: string;
	let adminToken: string;
	let userToken: string;

	const request = async (method: string, path: string, token?: string, body?: unknown) => {
		const res = await fetch(url + path, {
			method,
			headers: {
				...(body ? { "content-type": "application/json" } : {}),
				...(token ? { authorization: `Bearer ${token}` } : {})
			},
			body: body ? JSON.stringify(body) : undefined
		});
		return { status: res.status, body: (await res.json().catch(() => null)) as any };
	};

	beforeAll(async () => {
		db = await createTestDatabase("pipeline_http");
		broker = createTestBroker({
			namespace: uniqueNamespace("pipeline-http"),
			env: {
				DATABASE_URL: db.url,
				ADMIN_EMAIL,
				ADMIN_PASSWORD,
				AUTH_RATE_LIMIT: "100000",
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort())
			},
			services: [SigningService, ...PIPELINE_SERVICES, GatewayService]
		});
		await broker.start();
		const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
		url = `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
		await waitFor(
			async () =>
				(await request("POST", "/api/users/auth", undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }))
					.status === 200,
			20_000,
			"login"
		);
		adminToken = (
			await request("POST", "/api/users/auth", undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
		).body.access_token;
		expect(
			(await request("POST", "/api/users/add", undefined, { email: USER_EMAIL, password: USER_PASSWORD })).status
		).toBeLessThan(300);
		userToken = (
			await request("POST", "/api/users/auth", undefined, { email: USER_EMAIL, password: USER_PASSWORD })
		).body.access_token;
		// One undecodable message, through the real decoder.
		await broker.sendToChannel("iot.raw", {
			messages: [
				{
					topic: "stat/f2-aabbccddee77/sensor-mode/normal/sensor-1",
					payload: Buffer.from(JSON.stringify({ timestamp: Date.now(), data: "00" })).toString("base64"),
					receivedAt: new Date().toISOString()
				}
			]
		});
		await waitFor(
			async () => (await broker.call<any, any>("pipeline-decode.deadLetters", {})).total === 1,
			10_000,
			"dead letter"
		);
	});

	afterAll(async () => {
		await broker?.stop();
		await db?.drop();
	});

	it("lists dead letters (raw payloads) for administrators only", async () => {
		expect((await request("GET", "/api/pipeline/dead-letters")).status).toBe(401);
		expect((await request("GET", "/api/pipeline/dead-letters", userToken)).status).toBe(403);
		const res = await request("GET", "/api/pipeline/dead-letters?reason=UNKNOWN_MAC&limit=10", adminToken);
		expect(res.status).toBe(200);
		expect(res.body.total).toBe(1);
		expect(res.body.nextCursor).toBeNull();
		expect(res.body.items[0]).toMatchObject({
			source: "pipeline.decode",
			topic: "stat/f2-aabbccddee77/sensor-mode/normal/sensor-1"
		});
		expect(res.body.items[0].reason).toMatch(/^UNKNOWN_MAC/);
		const bad = await request("GET", "/api/pipeline/dead-letters?limit=abc", adminToken);
		expect(bad.status).toBe(422);
		expect(bad.body.type).toBe("VALIDATION_ERROR");
	});

	it("lets only administrators replay", async () => {
		expect((await request("POST", "/api/pipeline/dead-letters/replay", userToken, {})).status).toBe(403);
		const res = await request("POST", "/api/pipeline/dead-letters/replay", adminToken, {});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ replayed: 0, failed: 1 });
		expect(res.body.failures[0].reason).toMatch(/^UNKNOWN_MAC/);
	});
});
