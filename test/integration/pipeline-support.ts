/**
 * Helpers of the pipeline tests: a private Mosquitto started from the configuration shipped
 * in docker/mosquitto/ (ports and certificate paths rewritten), frames of the seeded
 * controllers, and a stand-in `signing` service built on the real CA module (services/signing/ca.ts)
 * for tests that must not depend on the whole signing service.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import mqtt from "mqtt";
import { createCA, deviceCommonName, issueFromCsr, type CertificateAuthority } from "../../services/signing/ca";
import { encodeFrame, FACES2_LAYOUT, controllerTopic } from "../../services/simulator/controllers-frames";
import { createTestBroker, uniqueNamespace } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { freePort } from "../helpers/ports";
import { isReachable } from "../helpers/servers";
import { ROOT } from "../helpers/node-process";

export const MACS = ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:03", "aa:bb:cc:dd:ee:04"];

export interface Mosquitto {
	plainPort: number;
	tlsPort: number | null;
	/** The mosquitto process (a bench reads its CPU from /proc). */
	pid: number | undefined;
	stop(): Promise<void>;
	log(): string;
}

/** Starts mosquitto with docker/mosquitto/mosquitto.conf; TLS listener only when certificates are given. */
export async function startMosquitto(dir: string, tls?: { ca: string; cert: string; key: string }): Promise<Mosquitto> {
	const plainPort = await freePort();
	const tlsPort = tls ? await freePort() : null;
	let conf = fs.readFileSync(path.join(ROOT, "docker/mosquitto/mosquitto.conf"), "utf8");
	conf = conf
		.replace(/^persistence .*$/m, "persistence false")
		.replace(/^persistence_location .*$/m, "")
		.replace(/^log_dest .*$/m, `log_dest file ${path.join(dir, "mosquitto.log")}`)
		.replace(/^listener 1883( 127\.0\.0\.1)?$/m, `listener ${plainPort} 127.0.0.1`)
		.replace(/\/mosquitto\/certs\//g, `${dir}/`)
		.replace(/\/mosquitto\/config\/acl/g, path.join(ROOT, "docker/mosquitto/acl"));
	if (tls) {
		conf = conf.replace(/^listener 8883$/m, `listener ${tlsPort} 127.0.0.1`);
		fs.writeFileSync(path.join(dir, "ca.crt"), tls.ca);
		fs.writeFileSync(path.join(dir, "server.crt"), tls.cert);
		fs.writeFileSync(path.join(dir, "server.key"), tls.key, { mode: 0o644 });
	} else {
		// Drop the TLS listener section (no certificates in this test).
		conf = conf.replace(/# --- controllers[\s\S]*?(?=# --- internal)/, "");
	}
	// mosquitto started as root switches to the 'mosquitto' user unless told otherwise.
	if (process.getuid?.() === 0) conf = `user root\n${conf}`;
	const confPath = path.join(dir, "mosquitto.conf");
	fs.writeFileSync(confPath, conf);
	fs.chmodSync(dir, 0o755);
	const child: ChildProcess = spawn("mosquitto", ["-c", confPath], { stdio: ["ignore", "pipe", "pipe"] });
	// Never outlive the test or bench process that started it.
	const onExit = () => child.kill("SIGKILL");
	process.on("exit", onExit);
	let out = "";
	child.stdout!.on("data", d => (out += d));
	child.stderr!.on("data", d => (out += d));
	const deadline = Date.now() + 10_000;
	while (!(await isReachable("127.0.0.1", plainPort, 200))) {
		if (child.exitCode != null || Date.now() > deadline) throw new Error(`mosquitto did not start: ${out}`);
		await new Promise(r => setTimeout(r, 50));
	}
	return {
		plainPort,
		tlsPort,
		pid: child.pid,
		log: () =>
			out +
			(fs.existsSync(path.join(dir, "mosquitto.log"))
				? fs.readFileSync(path.join(dir, "mosquitto.log"), "utf8")
				: ""),
		async stop() {
			process.off("exit", onExit);
			if (child.exitCode == null) {
				const exited = new Promise(r => child.once("exit", r));
				child.kill("SIGTERM");
				await exited;
			}
		}
	};
}

/** A stand-in `signing` service for the certificate actions, backed by the real CA code. */
export function signingStandIn(ca: CertificateAuthority): ServiceSchema {
	return {
		name: "signing",
		actions: {
			ca: { handler: () => ({ cert: ca.certPem }) },
			issueServerCert: {
				params: { commonName: "string", hosts: { type: "array", items: "string" }, csr: "string" },
				async handler(ctx: Context<{ commonName: string; hosts: string[]; csr: string }>) {
					const ip = ctx.params.hosts.filter(h => /^[\d.]+$|:/.test(h));
					const dns = ctx.params.hosts.filter(h => !ip.includes(h));
					const c = await issueFromCsr(ca, ctx.params.csr, {
						commonName: ctx.params.commonName,
						usage: "server",
						dnsNames: dns,
						ipAddresses: ip
					});
					return { cert: c.certPem, ca: ca.certPem };
				}
			},
			issueDeviceCert: {
				params: { mac: "string", csr: "string" },
				async handler(ctx: Context<{ mac: string; csr: string }>) {
					const c = await issueFromCsr(ca, ctx.params.csr, {
						commonName: deviceCommonName(ctx.params.mac),
						usage: "client"
					});
					return { commonName: c.commonName, cert: c.certPem, ca: ca.certPem };
				}
			}
		}
	};
}

export { createCA };

/** The two frames (sensor-1 and sensor-2) of controller `i` at time `ts` with deterministic values. */
export function framesFor(
	mac: string,
	i: number,
	ts: number
): { topic: string; payload: string; expected: Record<string, number> }[] {
	const env = { temperature: 20 + (i % 100) / 10, humidity: 40 + (i % 50) / 10, pressure: 1000 + (i % 300) / 10 };
	const pow = { voltage: 230 + (i % 10) / 10, current: 1 + (i % 1000) / 1000, power: 100 + (i % 64) / 4, energy: i };
	return [
		{
			topic: controllerTopic(mac, 1),
			payload: JSON.stringify({ timestamp: ts, data: encodeFrame(FACES2_LAYOUT[1], env) }),
			expected: env
		},
		{
			topic: controllerTopic(mac, 2),
			payload: JSON.stringify({ timestamp: ts, data: encodeFrame(FACES2_LAYOUT[2], pow) }),
			expected: pow
		}
	];
}

export async function connectMqtt(url: string, opts: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
	const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
	await new Promise<void>((resolve, reject) => {
		client.once("connect", () => resolve());
		client.once("error", reject);
		client.once("close", () => reject(new Error("connection closed before CONNACK")));
	});
	return client;
}

export interface PipelineNode {
	db: TestDatabase;
	broker: ServiceBroker;
	/** A client on the node's database, for checking what was stored. */
	pg: Client;
	stop(): Promise<void>;
}

/**
 * A broker running `services` on a database of its own, started, with a pg client on that
 * database; `stop()` tears all three down. `env` gets the database URL.
 */
export async function startPipelineNode(
	name: string,
	env: (databaseUrl: string) => Promise<Record<string, string>> | Record<string, string>,
	services: ServiceSchema[]
): Promise<PipelineNode> {
	const db = await createTestDatabase(name.replace(/-/g, "_"));
	const broker = createTestBroker({ namespace: uniqueNamespace(name), env: await env(db.url), services });
	await broker.start();
	const pg = new Client({ connectionString: db.url });
	await pg.connect();
	return {
		db,
		broker,
		pg,
		async stop() {
			await pg.end().catch(() => undefined);
			await broker.stop();
			await db.drop();
		}
	};
}
