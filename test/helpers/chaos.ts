/**
 * Fault injection for the e2e fault tests and bench/chaos: private nats-servers (single or a
 * 3-node JetStream cluster) on free ports, stopped by pid; a QoS 1 publisher of a known number
 * of FACES2 frames; exact counts in decoded_data.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import type { Client } from "pg";
import { framesFor, MACS } from "../integration/pipeline-support";
import { ROOT } from "./node-process";
import { freePort } from "./ports";
import { isReachable } from "./servers";

export const NATS_SERVER = "/usr/sbin/nats-server";

/** Datapoints of one iteration: every controller sends a sensor-1 (3) and a sensor-2 (4) frame. */
export const DATAPOINTS_PER_ITERATION = MACS.length * 7;

export interface NatsServer {
	port: number;
	url: string;
	/** Stops the server by pid (SIGKILL: a crash; SIGTERM: a clean stop). */
	kill(signal?: NodeJS.Signals): Promise<void>;
	/** Starts it again on the same port with the same store. */
	start(): Promise<void>;
	readonly running: boolean;
	log(): string;
}

interface NatsSpec {
	name: string;
	port: number;
	storeDir: string;
	/** A config file to run with (the cluster members), instead of command-line flags. */
	configFile?: string;
	/** Variables the config file refers to. */
	env?: Record<string, string>;
}

function natsServer(spec: NatsSpec): NatsServer {
	let child: ChildProcess | null = null;
	let out = "";
	const onExit = () => child?.kill("SIGKILL");
	const args = () =>
		spec.configFile
			? ["-c", spec.configFile]
			: ["-a", "127.0.0.1", "-p", String(spec.port), "-js", "-sd", spec.storeDir, "-n", spec.name];
	const self: NatsServer = {
		port: spec.port,
		url: `nats://127.0.0.1:${spec.port}`,
		get running() {
			return child != null && child.exitCode == null && child.signalCode == null;
		},
		log: () => out,
		async start() {
			child = spawn(NATS_SERVER, args(), {
				stdio: ["ignore", "pipe", "pipe"],
				env: { ...process.env, SERVER_NAME: spec.name, ...spec.env }
			});
			process.on("exit", onExit);
			child.stdout!.on("data", d => (out += d));
			child.stderr!.on("data", d => (out += d));
			const deadline = Date.now() + 10_000;
			while (!(await isReachable("127.0.0.1", spec.port, 200))) {
				if (!self.running || Date.now() > deadline)
					throw new Error(`nats-server ${spec.name} did not start: ${out.slice(-2000)}`);
				await new Promise(r => setTimeout(r, 50));
			}
		},
		async kill(signal = "SIGKILL") {
			const c = child;
			if (!c || c.exitCode != null || c.signalCode != null) return;
			const exited = new Promise(r => c.once("exit", r));
			c.kill(signal);
			await exited;
			process.off("exit", onExit);
		}
	};
	return self;
}

/** One JetStream nats-server on a free port with its own store in `dir`. */
export async function startNats(dir: string, name = "n1"): Promise<NatsServer> {
	const s = natsServer({ name, port: await freePort(), storeDir: path.join(dir, name) });
	await s.start();
	return s;
}

/**
 * A 3-node JetStream cluster from the shipped docker/nats/nats-cluster.conf: ports, routes and
 * store rewritten to free loopback ports and `dir`, its TLS blocks left out (no certificates
 * here; the routes authenticate by them), its client authorization kept. `urls` (every seed, with the credentials) is
 * what TRANSPORTER takes.
 */
export async function startNatsCluster(
	dir: string
): Promise<{ servers: NatsServer[]; urls: string; stop(): Promise<void> }> {
	const shipped = fs.readFileSync(path.join(ROOT, "docker/nats/nats-cluster.conf"), "utf8");
	const password = `pw${process.pid}${Date.now() % 1000}`;
	const env = { FLEETMESH_NATS_PASSWORD: password };
	const clients = await Promise.all([0, 1, 2].map(() => freePort()));
	const routes = await Promise.all([0, 1, 2].map(() => freePort()));
	const servers = [0, 1, 2].map(i => {
		const name = `nats-${i + 1}`;
		const conf = shipped
			.replace(/^port: 4222$/m, `host: 127.0.0.1\nport: ${clients[i]}`)
			.replace(/^http: 8222$/m, "")
			.replace(/store_dir: \/data\/jetstream/, `store_dir: "${path.join(dir, name)}"`)
			.replace(/\btls \{[^}]*\}/g, "")
			.replace(/^ {2}port: 6222$/m, `  host: 127.0.0.1\n  port: ${routes[i]}`)
			.replace(
				/routes = \[[^\]]*\]/,
				`routes = [ ${routes.map(p => `nats-route://127.0.0.1:${p}`).join(", ")} ]`
			);
		const configFile = path.join(mkdir(dir), `${name}.conf`);
		fs.writeFileSync(configFile, conf);
		return natsServer({ name, port: clients[i], storeDir: path.join(dir, name), configFile, env });
	});
	await Promise.all(servers.map(s => s.start()));
	return {
		servers,
		urls: servers.map(s => `nats://fleetmesh:${password}@127.0.0.1:${s.port}`).join(","),
		stop: async () => void (await Promise.all(servers.map(s => s.kill("SIGTERM"))))
	};
}

/** Waits until JetStream of a (cluster) server answers, i.e. the meta leader is elected. */
export async function waitJetStream(url: string, timeoutMs = 20_000): Promise<void> {
	const { connect } = await import("nats");
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	while (Date.now() < deadline) {
		const u = new URL(url);
		const nc = await connect({
			servers: u.host,
			user: u.username || undefined,
			pass: u.password || undefined,
			reconnect: false
		}).catch(e => ((last = e), null));
		if (nc) {
			try {
				await (await nc.jetstreamManager()).getAccountInfo();
				return;
			} catch (e) {
				last = e;
			} finally {
				await nc.close();
			}
		}
		await new Promise(r => setTimeout(r, 200));
	}
	throw new Error(`JetStream at ${url} not ready: ${(last as Error)?.message}`);
}

export interface PublishRun {
	/** Resolves when every frame was acknowledged by the broker (QoS 1). */
	done: Promise<void>;
	/** Iterations published so far. */
	published(): number;
	/** Datapoints in the frames published so far. */
	datapoints(): number;
	end(): Promise<void>;
}

/**
 * Publishes `iterations` rounds of frames (8 messages, 28 datapoints each) at QoS 1 with a
 * persistent session, `intervalMs` apart. Offline publishes are queued by mqtt.js and sent on
 * reconnect; unacknowledged ones are sent again: what the broker acknowledged is all of them.
 *
 * One case mqtt.js does not send again: a publish made while it resends its stored messages after
 * a reconnect waits in a queue of its own, and when the connection drops again during that resend
 * (the broker's node restarting on a loaded machine), the queue is failed with "Connection closed"
 * and those messages are never stored nor sent. A careful device publishes such a message again,
 * as this one does: the broker never had it, so this is not a duplicate (and would be harmless:
 * the primary key makes a redelivered datapoint a no-op).
 */
export function publishFrames(
	url: string,
	iterations: number,
	intervalMs: number,
	opts: mqtt.IClientOptions = {}
): PublishRun {
	const client = mqtt.connect(url, {
		clientId: `chaos-pub-${process.pid}-${Date.now() % 100000}`,
		clean: false,
		reconnectPeriod: 300,
		connectTimeout: 5000,
		...opts
	});
	client.on("error", () => undefined);
	// One second of device time per round, ending before now: the decoder refuses readings more
	// than a few minutes in the future (dead letters), so a long run must not start at now - 1 h.
	const base = Date.now() - Math.max(3600_000, iterations * 1000 + 60_000);
	let i = 0;
	const acks: Promise<void>[] = [];
	let ended = false;
	const acked = async (topic: string, payload: string | Buffer): Promise<void> => {
		for (let attempt = 1; ; attempt++) {
			try {
				await client.publishAsync(topic, payload, { qos: 1 });
				return;
			} catch (err) {
				if (ended || attempt >= 50) throw err;
				await new Promise(r => setTimeout(r, 200));
			}
		}
	};
	const done = (async () => {
		for (; i < iterations; i++) {
			for (const mac of MACS)
				for (const f of framesFor(mac, i, base + i * 1000)) {
					const ack = acked(f.topic, f.payload);
					// Handled now: a rejection before Promise.all below would be reported as unhandled.
					ack.catch(() => undefined);
					acks.push(ack);
				}
			await new Promise(r => setTimeout(r, intervalMs));
		}
		await Promise.all(acks);
	})();
	return {
		done,
		published: () => i,
		datapoints: () => i * DATAPOINTS_PER_ITERATION,
		end: () => {
			ended = true;
			return client.endAsync().catch(() => undefined);
		}
	};
}

export interface Counts {
	rows: number;
	distinct: number;
	/** (device, timestamp) groups that do not hold all the datapoints of their frame pair. */
	incomplete: number;
}

export async function countRows(pg: Client): Promise<Counts> {
	const r = await pg.query(
		`SELECT (SELECT count(*)::int FROM decoded_data) AS rows,
		        (SELECT count(*)::int FROM (SELECT DISTINCT timestamp, device_id, datapoint_id FROM decoded_data) d)
		        AS distinct,
		        (SELECT count(*)::int FROM (SELECT device_id, timestamp FROM decoded_data GROUP BY 1, 2 HAVING
		        count(*) <> 7) x) AS incomplete`
	);
	return r.rows[0] as Counts;
}

/**
 * Polls until decoded_data holds `expected` rows (or the time is up); returns the last counts and when they were
 * reached.
 */
export async function waitRows(pg: Client, expected: number, timeoutMs: number): Promise<Counts & { at: number }> {
	const deadline = Date.now() + timeoutMs;
	let c = await countRows(pg);
	while (c.rows < expected && Date.now() < deadline) {
		await new Promise(r => setTimeout(r, 100));
		c = await countRows(pg);
	}
	const at = Date.now();
	// A little longer: a duplicate would show up now, not be hidden by stopping at the count.
	await new Promise(r => setTimeout(r, 500));
	return { ...(await countRows(pg)), at };
}

export function mkdir(dir: string): string {
	fs.mkdirSync(dir, { recursive: true });
	return dir;
}
