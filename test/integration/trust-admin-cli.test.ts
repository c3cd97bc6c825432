/**
 * `npm run admin -- reset-password <email>` on PostgreSQL (DATABASE_URL), and the environment
 * checks of the mesh and /metrics (a non-loopback NATS without credentials refuses to start).
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import SigningService from "../../services/signing/signing.service";
import { readEnv } from "../../services/shared/env";
import { createTestBroker, tempDir, uniqueNamespace } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT } from "../helpers/node-process";

let pg: TestDatabase;

beforeAll(async () => {
	pg = await createTestDatabase("trust_cli");
});
afterAll(async () => {
	await pg?.drop();
});

const admin = (env: Record<string, string>, ...args: string[]) =>
	spawnSync(process.execPath, ["--import", "tsx", "bin/admin.ts", ...args], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
		encoding: "utf8"
	});

describe("npm run admin -- reset-password", () => {
	it("on PostgreSQL: a new password that logs in, the old one refused, the user's sessions ended", async () => {
		const env = { DATABASE_URL: pg.url, ADMIN_EMAIL: "chief@example.com", ADMIN_PASSWORD: "Lost-forever-9931" };
		const broker = createTestBroker({ namespace: uniqueNamespace("cli"), env, services: [SigningService] });
		await broker.start();
		const before = await broker.call<{ access_token: string }, object>("signing.auth", {
			email: "chief@example.com",
			password: "Lost-forever-9931"
		});
		const r = admin({ DATABASE_URL: pg.url, DATA_DIR: tempDir("cli-pg") }, "reset-password", "Chief@Example.com");
		expect(r.status, r.stderr).toBe(0);
		const m = /new password for chief@example.com \(user \d+, administrator\): (\S+)/.exec(r.stdout);
		expect(m, r.stdout).not.toBeNull();
		await expect(
			broker.call("signing.auth", { email: "chief@example.com", password: "Lost-forever-9931" })
		).rejects.toMatchObject({ code: 401 });
		expect(await broker.call("signing.auth", { email: "chief@example.com", password: m![1] })).toMatchObject({
			token_type: "bearer"
		});
		expect(await broker.call("signing.verifyToken", { token: before.access_token })).toMatchObject({
			valid: false,
			reason: "revoked"
		});
		await broker.stop();
	}, 60_000);

	it("an unknown address and a wrong command fail with one line", () => {
		const unknown = admin(
			{ DATABASE_URL: pg.url, DATA_DIR: tempDir("cli-pg2") },
			"reset-password",
			"nobody@example.com"
		);
		expect(unknown.status).toBe(1);
		expect(unknown.stderr.trim()).toMatch(/^fleetmesh admin: no user nobody@example.com/);
		const usage = admin({}, "frobnicate");
		expect(usage.status).toBe(2);
		expect(usage.stderr).toMatch(/usage: npm run admin -- reset-password <email>/);
	});
});

describe("the mesh and /metrics from the environment", () => {
	it("a non-loopback NATS URL needs credentials, unless MESH_INSECURE=1", () => {
		expect(() => readEnv({ TRANSPORTER: "nats://10.1.2.3:4222" })).toThrow(
			/TRANSPORTER: 10\.1\.2\.3:4222 is not on this machine .*MESH_INSECURE=1/
		);
		expect(() => readEnv({ TRANSPORTER: "nats://127.0.0.1:4222,nats://nats.example.com:4222" })).toThrow(
			/nats\.example\.com/
		);
		expect(readEnv({ TRANSPORTER: "nats://10.1.2.3:4222", MESH_INSECURE: "1" }).transporter.kind).toBe("NATS");
		expect(readEnv({ TRANSPORTER: "nats://fleetmesh:s3cret@10.1.2.3:4222" }).transporter.kind).toBe("NATS");
		expect(readEnv({ TRANSPORTER: "nats://localhost:4222" }).transporter.kind).toBe("NATS");
	});

	it("/metrics wants a token unless the gateway is on loopback or METRICS_AUTH=none", () => {
		expect(readEnv({}).metricsAuth).toBe(true);
		expect(readEnv({ HOST: "127.0.0.1" }).metricsAuth).toBe(false);
		expect(readEnv({ METRICS_AUTH: "none" }).metricsAuth).toBe(false);
		expect(readEnv({ HOST: "127.0.0.1", METRICS_AUTH: "token" }).metricsAuth).toBe(true);
		expect(() => readEnv({ METRICS_AUTH: "maybe" })).toThrow(/METRICS_AUTH/);
	});

	it("the default NODEID is stable for a DATA_DIR and differs between two", () => {
		const a = readEnv({ DATA_DIR: "/srv/a" }).nodeID;
		expect(readEnv({ DATA_DIR: "/srv/a" }).nodeID).toBe(a);
		expect(readEnv({ DATA_DIR: "/srv/b" }).nodeID).not.toBe(a);
	});
});
