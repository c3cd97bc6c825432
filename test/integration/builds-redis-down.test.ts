/**
 * The build API when its Redis dies (a redis-server of this test's own, killed by pid): build
 * requests and status answer 503 with a detail at once, never a hang or a 500; prepare keeps
 * working.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import BuildsPrepareService from "../../services/builds-prepare/builds-prepare.service";
import BuildsService from "../../services/builds/builds.service";
import GatewayService from "../../services/gateway/gateway.service";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { freePort } from "../helpers/ports";
import { isReachable } from "../helpers/servers";
import { asuClient, C7, gatewayUrl } from "./builds-support";

let broker: ServiceBroker;
let db: TestDatabase;
let url = "";
let redis: ChildProcess;
const asu = asuClient(() => url);

beforeAll(async () => {
	const port = await freePort();
	redis = spawn(
		"/usr/bin/redis-server",
		["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
		{ stdio: "ignore" }
	);
	await waitFor(() => isReachable("127.0.0.1", port, 200), 10_000, "own redis-server");
	db = await createTestDatabase("builds_redis_down");
	broker = createTestBroker({
		namespace: uniqueNamespace("builds-noredis"),
		env: { REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_URL: db.url, ASU_BUILDER: "simulated", SIMULATE: "0" },
		services: [GatewayService, BuildsService, BuildsPrepareService]
	});
	await broker.start();
	url = gatewayUrl(broker);
	// Up, it answers; then Redis dies.
	expect((await asu("GET", "/api/v1/stats")).body).toEqual({ queue_length: 0 });
	redis.kill("SIGKILL");
	await new Promise(r => redis.once("exit", r));
});

afterAll(async () => {
	if (redis?.exitCode == null) redis?.kill("SIGKILL");
	await broker?.stop();
	await db?.drop();
});

describe("builds when Redis dies", () => {
	it("answers 503 with a detail, quickly; prepare still answers", async () => {
		const t0 = Date.now();
		const b = await asu("POST", "/api/v1/build", { ...C7, packages: ["tmux"] });
		expect(b.status).toBe(503);
		expect(b.body).toEqual({
			status: 503,
			detail: "The build queue is not reachable right now (Redis); try again later"
		});
		expect((await asu("GET", `/api/v1/build/${"a".repeat(64)}`)).status).toBe(503);
		expect((await asu("GET", "/api/v1/stats")).status).toBe(503);
		expect(Date.now() - t0).toBeLessThan(8000);
		expect((await asu("POST", "/api/v1/build/prepare", C7)).status).toBe(200);
	});
});
