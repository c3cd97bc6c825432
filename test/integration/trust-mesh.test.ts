/**
 * The mesh is authenticated and carries no secret:
 * - a raw NATS client without credentials cannot join a nats-server running the shipped
 *   docker/nats/nats.conf (its own server, on a free port); with them, a node works;
 * - with the mesh open on purpose (the shared loopback NATS), a raw NATS client speaking the
 *   Moleculer protocol and a foreign node calling every action get no key material, and a token
 *   signed with anything but signing's key is 401.
 */
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { SignJWT, generateKeyPair } from "jose";
import { connect, JSONCodec } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import ManagerService from "../../services/manager/manager.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT } from "../helpers/node-process";
import { freePort } from "../helpers/ports";
import { NATS_URL, requireServer } from "../helpers/servers";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

// As the README makes one: it starts with a letter (nats-server reads "5e3…" as a number).
const PASSWORD = `fm${crypto.randomBytes(12).toString("hex")}`;
// Actions that change data (the read-only sweep below skips them).
const MUTATING = new RegExp(
	String.raw`\.(add|remove|setRole|resetPassword|changePassword|rotateKeys|logout|create|update|sync|ack|` +
		String.raw`createRule|deleteRule|replayDeadLetters)$`
);
let natsProc: ChildProcess | null = null;
let natsPort = 0;

/**
 * The shipped nats.conf on free ports. A port found free can be taken by another test before
 * nats-server binds it (it then exits at once): such a start is retried on new ports, and its
 * own words are in the error if every attempt fails.
 */
async function startShippedNats(): Promise<void> {
	let lastOutput = "";
	for (let attempt = 1; attempt <= 3; attempt++) {
		natsPort = await freePort();
		const httpPort = await freePort();
		// The shipped file as it is, but for where JetStream stores (nats-server refuses -sd next to store_dir).
		const dir = tempDir("nats-shipped");
		const conf = path.join(dir, "nats.conf");
		fs.writeFileSync(
			conf,
			fs
				.readFileSync(path.join(ROOT, "docker/nats/nats.conf"), "utf8")
				.replace(/store_dir: .*/, `store_dir: ${JSON.stringify(path.join(dir, "js"))}`)
		);
		const proc = spawn(
			"/usr/sbin/nats-server",
			["-c", conf, "-a", "127.0.0.1", "-p", String(natsPort), "-m", String(httpPort)],
			{ env: { FLEETMESH_NATS_PASSWORD: PASSWORD }, stdio: ["ignore", "ignore", "pipe"] }
		);
		natsProc = proc;
		let output = "";
		proc.stderr?.on("data", (b: Buffer) => (output += b.toString()));
		let exited = false;
		proc.once("exit", () => (exited = true));
		const up = await waitFor(
			async () => {
				if (exited) return "exited";
				const nc = await connect({
					servers: `127.0.0.1:${natsPort}`,
					user: "fleetmesh",
					pass: PASSWORD,
					reconnect: false,
					timeout: 500
				});
				await nc.close();
				return "up";
			},
			20_000,
			"the shipped nats-server"
		);
		if (up === "up") return;
		lastOutput = output.trim().split("\n").slice(-3).join(" | ");
	}
	throw new Error(`the shipped nats-server did not start in 3 attempts: ${lastOutput}`);
}

describe("the shipped NATS configuration requires credentials", () => {
	beforeAll(startShippedNats);
	afterAll(() => {
		natsProc?.kill("SIGTERM");
	});

	it("refuses a raw client without credentials or with a wrong password", async () => {
		await expect(connect({ servers: `127.0.0.1:${natsPort}`, reconnect: false, timeout: 2000 })).rejects.toThrow(
			/Authorization|AUTHORIZATION/i
		);
		await expect(
			connect({
				servers: `127.0.0.1:${natsPort}`,
				user: "fleetmesh",
				pass: "guess",
				reconnect: false,
				timeout: 2000
			})
		).rejects.toThrow(/Authorization|AUTHORIZATION/i);
	});

	it("a node with the credentials in TRANSPORTER joins and serves, channels included", async () => {
		const broker = createTestBroker({
			namespace: uniqueNamespace("mesh-auth"),
			env: { TRANSPORTER: `nats://fleetmesh:${PASSWORD}@127.0.0.1:${natsPort}` },
			services: [{ name: "echo", actions: { hi: () => "hi" } }]
		});
		const peer = createTestBroker({
			namespace: broker.namespace,
			env: { TRANSPORTER: `nats://fleetmesh:${PASSWORD}@127.0.0.1:${natsPort}` }
		});
		try {
			await broker.start();
			await peer.start();
			await peer.waitForServices("echo", 10_000);
			expect(await peer.call("echo.hi")).toBe("hi");
			// The durable channels (JetStream) use the same credentials.
			const got: unknown[] = [];
			broker.createService({
				name: "sink",
				channels: { "trust.mesh": { group: "g", handler: (m: unknown) => void got.push(m) } }
			});
			// The stream exists once the new service's subscription is made, which createService
			// does not wait for: until then JetStream answers a send with 503 (no stream), so the
			// send is retried, as the pipeline's BatchPublisher retries it.
			await waitFor(
				() => peer.sendToChannel("trust.mesh", { n: 1 }).then(() => true),
				10_000,
				"the trust.mesh stream to accept a send"
			);
			await waitFor(() => got.length === 1, 10_000, "a channel message over the authenticated JetStream");
		} finally {
			await peer.stop();
			await broker.stop();
		}
	});
});

describe("an open mesh (on purpose) carries no key material", () => {
	let db: TestDatabase;
	let node: GatewayNode;
	let intruder: ServiceBroker;
	const namespace = uniqueNamespace("mesh-open");

	beforeAll(async () => {
		await requireServer("nats");
		db = await createTestDatabase("trust_mesh");
		node = await startGatewayNode({
			namespace,
			nodeID: "victim",
			env: { TRANSPORTER: NATS_URL, DATABASE_URL: db.url },
			extra: [ManagerService, MonitoringService]
		});
		intruder = createTestBroker({ namespace, nodeID: "intruder", env: { TRANSPORTER: NATS_URL } });
		await intruder.start();
		await intruder.waitForServices(["signing", "manager", "monitoring", "gateway"], 15_000);
	}, 60_000);

	afterAll(async () => {
		await intruder?.stop();
		await node?.stop();
		await db?.drop();
	});

	const secretLike = (s: string) => /PRIVATE KEY|"d"\s*:|argon2|"password"\s*:\s*"\$/.test(s);

	it("a raw NATS client speaking the Moleculer protocol gets public keys only", async () => {
		const nc = await connect({ servers: "127.0.0.1:4222" });
		const jc = JSONCodec<any>();
		const sender = `raw-${crypto.randomBytes(3).toString("hex")}`;
		const pending = new Map<string, (p: any) => void>();
		nc.subscribe(`MOL-${namespace}.RES.${sender}`, {
			callback: (_err, m) => {
				const packet = jc.decode(m.data);
				pending.get(packet.id)?.(packet);
			}
		});
		const call = (action: string, params: unknown) =>
			new Promise<any>((resolve, reject) => {
				const id = crypto.randomUUID();
				pending.set(id, resolve);
				setTimeout(() => reject(new Error(`no answer to ${action}`)), 5000).unref();
				nc.publish(
					`MOL-${namespace}.REQ.victim`,
					jc.encode({
						ver: "4",
						sender,
						id,
						action,
						params,
						meta: {},
						timeout: 5000,
						level: 1,
						tracing: null,
						parentID: null,
						requestID: id,
						caller: null,
						stream: false
					})
				);
			});
		const jwks = await call("signing.jwks", {});
		expect(jwks.success).toBe(true);
		expect(jwks.data.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
		expect(jwks.data.keys[0]).not.toHaveProperty("d");
		// The HS256 key action of old is gone; certificates need the caller's own CSR.
		expect((await call("signing.jwtKey", {})).success).toBe(false);
		const server = await call("signing.issueServerCert", { commonName: "evil", hosts: ["evil.example.com"] });
		expect(server.success).toBe(false);
		expect(server.error.code).toBe(422);
		const device = await call("signing.issueDeviceCert", { mac: "aa:bb:cc:dd:ee:99" });
		expect(device.success).toBe(false);
		await nc.close();
	});

	it("a foreign node calling every action with empty and typical params never receives key material", async () => {
		const actions = (
			intruder.registry.getActionList({ onlyAvailable: true, skipInternal: true }) as Array<{
				name: string;
				node?: { id: string };
			}>
		)
			.map(a => a.name)
			.filter(n => !n.startsWith("$"));
		expect(actions).toEqual(
			expect.arrayContaining([
				"signing.jwks",
				"signing.userState",
				"signing.revokedTokens",
				"signing.issueServerCert",
				"manager.list"
			])
		);
		const answers: string[] = [];
		for (const name of new Set(actions)) {
			// Mutating routes are skipped: this test reads, it does not wreck the victim's data.
			if (MUTATING.test(name)) continue;
			for (const params of [{}, { id: 1 }]) {
				const r = await intruder.call(name, params, { timeout: 3000, retries: 0 }).then(
					v => JSON.stringify(v ?? null),
					(e: Error) => `error ${e.message}`
				);
				answers.push(`${name}: ${r.slice(0, 2000)}`);
			}
		}
		const leaks = answers.filter(secretLike);
		expect(leaks).toEqual([]);
		expect(answers.length).toBeGreaterThan(20);
	});

	it("a token signed with any key but signing's is 401, even with signing's kid", async () => {
		const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
		const kid = ((await api(node.url, "GET", "/api/certs/jwks")).body as { keys: Array<{ kid: string }> }).keys[0]
			.kid;
		const forged = await new SignJWT({ email: ADMIN_EMAIL, is_admin: true, ver: 0 })
			.setProtectedHeader({ alg: "EdDSA", kid })
			.setSubject("1")
			.setIssuer("fleetmesh")
			.setJti("forged")
			.setIssuedAt()
			.setExpirationTime("1h")
			.sign(privateKey);
		const r = await api(node.url, "GET", "/api/users", undefined, forged);
		expect(r.status).toBe(401);
		expect(r.body.type).toBe("INVALID_TOKEN");
		// The real admin's token works.
		expect(
			(await api(node.url, "GET", "/api/users", undefined, await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD)))
				.status
		).toBe(200);
	});
});
