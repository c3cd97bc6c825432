/**
 * Side-by-side benchmark: fleetmesh against a Node-RED 4 flow doing the same job, with the same
 * publisher, the same broker build, the same PostgreSQL and the same decoded_data table, in one
 * run, alternating. Prints figures; asserts nothing.
 *
 *   npm run bench:peers -- [--rounds 2] [--messages 90000] [--only fleetmesh,fleetmesh-split,node-red]
 *     [--mode flat,drain] [--publisher lean|mqttjs|lean,mqttjs] [--tsx]
 *
 * Two modes, each round runs both (alternating the peers within each; --publisher lean,mqttjs runs
 * all rounds with each publisher in turn):
 *   flat   the consumer runs while the publishers publish flat out; from the first publish to the
 *          last committed row. On 2 cores the publishers compete with the consumer for CPU.
 *   drain  the consumer connects once (its persistent session and subscription exist), stops,
 *          the whole load is published while it is down (the broker queues it for the session;
 *          the Mosquitto config allows 1,000,000 queued messages), then the consumer starts and
 *          drains it: from the broker's log line of its session connecting again to its last
 *          committed row (and from its spawn, startup included). Nothing else runs meanwhile, so
 *          this is the consumer's own throughput.
 *
 * Everything runs on private ports and is stopped by pid: a PostgreSQL cluster of its own
 * (initdb in a temp folder; `--pg shared` uses a fresh database on the loopback server instead),
 * a JetStream nats-server, and a Mosquitto (docker/mosquitto config) started afresh for every
 * round, so no persistent session of an earlier round queues messages for a later one.
 *
 *   fleetmesh  `npm start` as a user deploys it: the compiled dist/bin/runner.js (--tsx: the
 *              sources) with SERVICES=signing,manager,monitoring,pipeline,gateway, MQTT_URL, TRANSPORTER,
 *              DATABASE_URL (persistent MQTT session, PUBACK only once a message is on iot.raw).
 *   fleetmesh-split  the same as two `npm start` nodes over the same NATS: SERVICES=pipeline-ingest,
 *              and SERVICES=signing,manager,monitoring,pipeline-decode,pipeline-sink,gateway (the
 *              stages then run on both cores). The rest starts first, then the ingest node; its
 *              CPU is both processes'.
 *   node-red   Node-RED 4, installed on demand with npm into bench/.peers/ (git-ignored, not a
 *              project dependency): mqtt in (QoS 1, persistent session) → function node decoding
 *              the same 8-byte sensor-1 frame → one INSERT (three rows) per message through a pg
 *              pool. Node-RED acknowledges a message when it arrives, before the INSERT. Its broker
 *              node keeps the subscription when it stops (autoUnsubscribe off) for the drain mode.
 *
 * The publisher is bench/pipeline/publisher.ts in 3 processes (7 controllers each, started
 * together once all are connected; bench/lib/publishers.ts), QoS 1, sensor-1 frames only (3
 * datapoints each), the same frames for every peer; --publisher picks its MQTT client: lean (the
 * default, bench/lib/lean-mqtt.ts: a third of mqtt.js's CPU, which the consumer gets instead on 2
 * cores) or mqttjs. Throughput is from the first publish to the last committed row (rows counted in
 * PostgreSQL every 100 ms); every round checks that decoded_data ends with exactly one row per
 * published datapoint. CPU is utime+stime from /proc of each process over the same interval, per
 * million datapoints: the figure that does not depend on how busy the machine is.
 *
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the fleetmesh node (one
 * .cpuprofile per start, written when it stops).
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { startNats, type NatsServer } from "../../test/helpers/chaos";
import { createTestDatabase } from "../../test/helpers/db";
import { freePort } from "../../test/helpers/ports";
import { isReachable } from "../../test/helpers/servers";
import { startCompiledNode, startNode, type NodeProcess } from "../../test/helpers/node-process";
import { startMosquitto, type Mosquitto } from "../../test/integration/pipeline-support";
import { benchMacs, option, seedControllers } from "../lib/controllers";
import { PUBLISHER_CLIENT_PREFIX } from "../lib/frames";
import { cpuOf, PUBLISHER_KINDS, spawnPublishers, type PublisherKind, type PublishResult } from "../lib/publishers";

const ROOT = path.resolve(__dirname, "../..");
const PEERS_DIR = path.join(ROOT, "bench/.peers");
const args = process.argv.slice(2);
const ROUNDS = Number(option("rounds", "2"));
const MESSAGES = Number(option("messages", "90000"));
type Peer = "fleetmesh" | "fleetmesh-split" | "node-red";
const PEERS: Peer[] = ["fleetmesh", "fleetmesh-split", "node-red"];
const ONLY = option("only", PEERS.join(",")).split(",");
const PUBLISHER_LIST = option("publisher", "lean").split(",") as PublisherKind[];
for (const p of PUBLISHER_LIST)
	if (!PUBLISHER_KINDS.includes(p)) throw new Error(`--publisher ${p}: ${PUBLISHER_KINDS.join(" or ")}`);
const MODES = option("mode", "flat,drain").split(",") as Mode[];
type Mode = "flat" | "drain";
const PG_MODE = option("pg", "private");
const PUBLISHERS = 3;
const CONTROLLERS = 21;
const DATAPOINTS = MESSAGES * 3;
const MACS = benchMacs(CONTROLLERS);

function tmp(prefix: string): string {
	return fs.mkdtempSync(path.join(os.tmpdir(), `fm-peers-${prefix}-`));
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

// ---- CPU from /proc ----------------------------------------------------------------------------

/** The process and its direct children (PostgreSQL: the postmaster and its backends). */
function cpuOfTree(pid: number | undefined): number {
	if (!pid) return 0;
	let total = cpuOf(pid);
	for (const d of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			if (ppid === pid) total += cpuOf(Number(d));
		} catch {
			// exited meanwhile
		}
	}
	return total;
}

// ---- PostgreSQL ----------------------------------------------------------------------------------

interface Pg {
	url: string;
	pid: number | undefined;
	stop(): Promise<void>;
}

function pgBinDir(): string {
	const base = "/usr/lib/postgresql";
	const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
	if (!versions.length) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql (use --pg shared)");
	return path.join(base, versions[0], "bin");
}

/** A PostgreSQL cluster of its own on a free port (as the postgres user when run as root). */
async function startPrivatePg(): Promise<Pg> {
	const bin = pgBinDir();
	const dir = tmp("pg");
	const port = await freePort();
	const asUser: { uid?: number; gid?: number } = {};
	if (process.getuid?.() === 0) {
		asUser.uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
		asUser.gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
		fs.chownSync(dir, asUser.uid, asUser.gid);
	}
	execFileSync(
		path.join(bin, "initdb"),
		["-D", path.join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
		{ ...asUser, stdio: "ignore", cwd: dir }
	);
	const child: ChildProcess = spawn(
		path.join(bin, "postgres"),
		[
			"-D",
			path.join(dir, "data"),
			"-p",
			String(port),
			"-k",
			dir,
			"-c",
			"listen_addresses=127.0.0.1",
			"-c",
			"max_connections=100"
		],
		{
			...asUser,
			cwd: dir,
			stdio: ["ignore", "pipe", "pipe"]
		}
	);
	let out = "";
	child.stdout!.on("data", d => (out += d));
	child.stderr!.on("data", d => (out += d));
	const onExit = () => child.kill("SIGKILL");
	process.on("exit", onExit);
	const deadline = Date.now() + 30_000;
	while (!(await isReachable("127.0.0.1", port, 200))) {
		if (child.exitCode != null || Date.now() > deadline)
			throw new Error(`postgres did not start: ${out.slice(-2000)}`);
		await sleep(100);
	}
	const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
	for (;;) {
		const c = new Client({ connectionString: url });
		try {
			await c.connect();
			await c.query("SELECT 1");
			await c.end();
			break;
		} catch {
			await c.end().catch(() => undefined);
			if (Date.now() > deadline) throw new Error(`postgres on ${port} does not answer: ${out.slice(-2000)}`);
			await sleep(200);
		}
	}
	return {
		url,
		pid: child.pid,
		async stop() {
			process.off("exit", onExit);
			if (child.exitCode == null) {
				const exited = new Promise(r => child.once("exit", r));
				child.kill("SIGINT"); // fast shutdown
				await exited;
			}
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
}

async function startPg(): Promise<Pg> {
	if (PG_MODE === "shared") {
		const db = await createTestDatabase("bench_peers");
		return { url: db.url, pid: undefined, stop: () => db.drop() };
	}
	return startPrivatePg();
}

// ---- publisher -------------------------------------------------------------------------------------

/** The 3 publisher processes (bench/lib/publishers.ts), sensor-1 frames, QoS 1, flat out. */
function publish(url: string, publisher: PublisherKind): Promise<PublishResult> {
	return spawnPublishers({
		url,
		macs: MACS,
		frames: MESSAGES,
		rate: 0,
		qos: 1,
		publisher,
		processes: PUBLISHERS,
		sensors: "1"
	});
}

// ---- schema and metadata -----------------------------------------------------------------------------

interface Meta {
	/** MAC without separators → ids of the sensor-1 datapoints. */
	[mac: string]: { deviceId: number; temperature: number; humidity: number; pressure: number };
}

/** The bench's controllers (bench/lib/controllers.ts) and the datapoint ids the Node-RED flow writes. */
async function seedMeta(pg: Client): Promise<Meta> {
	await seedControllers((text, values) => pg.query(text, values), MACS);
	const meta: Meta = {};
	const rows = (
		await pg.query<{ mac: string; device_id: number; label: string; id: number }>(
			`SELECT d.mac, d.id AS device_id, p.label, p.id FROM devices d JOIN datapoints p ON ` +
				`p.device_id = d.id WHERE d.mac = ANY($1)`,
			[MACS]
		)
	).rows;
	for (const r of rows) {
		const key = r.mac.replace(/:/g, "");
		meta[key] ??= { deviceId: r.device_id, temperature: 0, humidity: 0, pressure: 0 };
		if (r.label === "temperature" || r.label === "humidity" || r.label === "pressure") meta[key][r.label] = r.id;
	}
	for (const [mac, m] of Object.entries(meta))
		if (!m.temperature || !m.humidity || !m.pressure)
			throw new Error(`controller ${mac}: sensor-1 datapoints missing in the seed`);
	return meta;
}

// ---- the two consumers ------------------------------------------------------------------------------------

interface Consumer {
	/** Its processes (fleetmesh-split: the ingest node, then the rest). */
	pids: (number | undefined)[];
	stop(): Promise<void>;
}

const FLEETMESH_SERVICES = "signing,manager,monitoring,pipeline,gateway";
/** The split deployment: an ingest node, and a node with everything else (services/, bin/service-list.ts). */
const SPLIT_INGEST_SERVICES = "pipeline-ingest";
const SPLIT_REST_SERVICES = "signing,manager,monitoring,pipeline-decode,pipeline-sink,gateway";
const USE_TSX = args.includes("--tsx");

interface FleetmeshEnv {
	pgUrl: string;
	natsUrl: string;
	mqttUrl: string;
	dataDir: string;
	namespace: string;
	/** Called once every process is spawned, before it is ready (the drain's CPU starts there). */
	onSpawn?: (pids: (number | undefined)[]) => void;
}

/**
 * One `npm start` node. Ready = its /ready answers 200 (database, channels, MQTT subscribed) when it runs
 * the gateway; a node without one (the split's ingest node) is ready when it logs its MQTT subscription.
 */
async function startFleetmeshNode(
	env: FleetmeshEnv,
	nodeId: string,
	services: string
): Promise<Consumer & { node: NodeProcess }> {
	const port = await freePort();
	const http = services.split(",").includes("gateway");
	const nodeEnv = {
		NAMESPACE: env.namespace,
		NODEID: nodeId,
		SERVICES: services,
		TRANSPORTER: env.natsUrl,
		DATABASE_URL: env.pgUrl,
		MQTT_URL: env.mqttUrl,
		DATA_DIR: env.dataDir,
		PORT: String(port),
		SIMULATE: "0",
		// The ingest node's readiness is its info line "mqtt: subscribed to …" (it logs little else at info).
		LOGLEVEL: http ? "warn" : "info"
	};
	const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(" ") : [];
	// As `npm start` runs it: the compiled dist/ (scripts/compile.mjs, run by main()); --tsx runs the sources.
	const node = USE_TSX ? startNode(nodeEnv, [], nodeArgs) : startCompiledNode(nodeEnv, nodeArgs);
	env.onSpawn?.([node.child.pid]);
	try {
		const deadline = Date.now() + 120_000;
		for (;;) {
			if (node.child.exitCode != null)
				throw new Error(`${nodeId} exited ${node.child.exitCode}:\n${node.output().slice(-3000)}`);
			const ok = http
				? await fetch(`http://127.0.0.1:${port}/ready`).then(
						r => r.status === 200,
						() => false
					)
				: /mqtt: subscribed to/.test(node.output());
			if (ok) break;
			if (Date.now() > deadline)
				throw new Error(`${nodeId} not ready after 120 s:\n${node.output().slice(-3000)}`);
			await sleep(250);
		}
	} catch (err) {
		await node.kill("SIGKILL");
		throw err;
	}
	return { node, pids: [node.child.pid], stop: async () => void (await node.kill("SIGTERM")) };
}

/** fleetmesh as one `npm start` node, as the quick start deploys it. */
function startFleetmesh(env: FleetmeshEnv): Promise<Consumer> {
	return startFleetmeshNode(env, "bench-fleetmesh", FLEETMESH_SERVICES);
}

/**
 * fleetmesh as two `npm start` nodes over the same NATS: the ingest node (MQTT → iot.raw) and the rest
 * (decode, sink, the other services), so the pipeline's stages use both cores. pids: [ingest, rest].
 */
async function startFleetmeshSplit(env: FleetmeshEnv): Promise<Consumer> {
	// The rest first, then the ingest node: a drain counts from the ingest node's session connecting
	// again, with decode and sink already up (as when an ingest node of a running deployment restarts).
	const rest = await startFleetmeshNode({ ...env, onSpawn: undefined }, "bench-fm-rest", SPLIT_REST_SERVICES);
	let ingest: Consumer;
	try {
		// One process per DATA_DIR: the ingest node's (its MQTT client id) beside the other's.
		fs.mkdirSync(`${env.dataDir}-ingest`, { recursive: true, mode: 0o700 });
		ingest = await startFleetmeshNode(
			{ ...env, dataDir: `${env.dataDir}-ingest`, onSpawn: p => env.onSpawn?.([...p, ...rest.pids]) },
			"bench-fm-ingest",
			SPLIT_INGEST_SERVICES
		);
	} catch (err) {
		await rest.node.kill("SIGKILL");
		throw err;
	}
	return {
		pids: [...ingest.pids, ...rest.pids],
		// The ingest first: what it has put on iot.raw is drained by the rest when it runs again.
		stop: async () => {
			await ingest.stop();
			await rest.stop();
		}
	};
}

/** Installs Node-RED 4 and pg into bench/.peers/ (git-ignored) unless they are there already. */
function ensureNodeRed(): string {
	const red = path.join(PEERS_DIR, "node_modules/node-red/red.js");
	const pg = path.join(PEERS_DIR, "node_modules/pg/package.json");
	if (fs.existsSync(red) && fs.existsSync(pg)) return red;
	console.log(
		`installing node-red@4 and pg with npm into ${path.relative(ROOT, PEERS_DIR)}/ (not a project ` +
			`dependency, git-ignored) …`
	);
	fs.mkdirSync(PEERS_DIR, { recursive: true });
	if (!fs.existsSync(path.join(PEERS_DIR, "package.json")))
		fs.writeFileSync(
			path.join(PEERS_DIR, "package.json"),
			JSON.stringify({ name: "fleetmesh-bench-peers", private: true }) + "\n"
		);
	execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "node-red@4", "pg@8"], {
		cwd: PEERS_DIR,
		stdio: "inherit"
	});
	return red;
}

/** The function node: what a Node-RED user writes for this job (hard-coded sensor-1 layout). */
const NODE_RED_FUNCTION = `
const pool = global.get("pool");
const meta = global.get("meta");
const mac = msg.topic.split("/")[1].slice(3);
const m = meta[mac];
if (!m) { node.warn("unknown controller " + mac); return null; }
const p = JSON.parse(msg.payload.toString());
const b = Buffer.from(p.data, "hex");
if (b.length !== 8) { node.warn("wrong frame length"); return null; }
const ts = new Date(p.timestamp).toISOString();
await pool.query(
  "INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) " +
    "VALUES ($1, $2, $3, $4), ($1, $2, $5, $6), ($1, $2, $7, $8) ON CONFLICT DO NOTHING",
  [ts, m.deviceId, m.temperature, b.readInt16BE(0) * 0.01, m.humidity, b.readUInt16BE(2) * 0.01,
    m.pressure, b.readUInt32BE(4) * 0.01]
);
return null;
`;

async function startNodeRed(
	red: string,
	env: { pgUrl: string; mqttPort: number; meta: Meta; onSpawn?: (pids: (number | undefined)[]) => void }
): Promise<Consumer> {
	const dir = tmp("node-red");
	const uiPort = await freePort();
	const flows = [
		{ id: "tab1", type: "tab", label: "decode" },
		{
			id: "broker1",
			type: "mqtt-broker",
			name: "mosquitto",
			broker: "127.0.0.1",
			port: String(env.mqttPort),
			clientid: "nodered-bench",
			autoConnect: true,
			usetls: false,
			protocolVersion: "4",
			keepalive: "60",
			cleansession: false,
			// Keep the subscription in the session when Node-RED stops (its default unsubscribes on
			// close): what is published meanwhile is queued for it, as for fleetmesh's ingest.
			autoUnsubscribe: false
		},
		{
			id: "in1",
			type: "mqtt in",
			z: "tab1",
			name: "frames",
			topic: "stat/+/+/+/+",
			qos: "1",
			datatype: "buffer",
			broker: "broker1",
			nl: false,
			rap: true,
			rh: 0,
			inputs: 0,
			x: 100,
			y: 100,
			wires: [["fn1"]]
		},
		{
			id: "fn1",
			type: "function",
			z: "tab1",
			name: "decode and insert",
			func: NODE_RED_FUNCTION,
			outputs: 1,
			timeout: 0,
			noerr: 0,
			initialize: "",
			finalize: "",
			libs: [],
			x: 300,
			y: 100,
			wires: [[]]
		}
	];
	fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(flows));
	fs.writeFileSync(path.join(dir, "meta.json"), JSON.stringify(env.meta));
	fs.writeFileSync(
		path.join(dir, "settings.js"),
		`const { Pool } = require(${JSON.stringify(path.join(PEERS_DIR, "node_modules/pg"))});
module.exports = {
  uiPort: ${uiPort}, uiHost: "127.0.0.1", flowFile: "flows.json", credentialSecret: false,
  functionGlobalContext: {
    pool: new Pool({ connectionString: ${JSON.stringify(env.pgUrl)}, max: 10 }),
    meta: require("./meta.json")
  },
  logging: { console: { level: "info", metrics: false, audit: false } },
  editorTheme: { tours: false }, diagnostics: { enabled: false }, telemetry: { enabled: false }
};
`
	);
	const child = spawn(process.execPath, [red, "--settings", path.join(dir, "settings.js"), "--userDir", dir], {
		cwd: dir,
		stdio: ["ignore", "pipe", "pipe"],
		env: { PATH: process.env.PATH ?? "", HOME: dir }
	});
	env.onSpawn?.([child.pid]);
	const onExit = () => child.kill("SIGKILL");
	process.on("exit", onExit);
	let out = "";
	child.stdout!.on("data", d => (out += d));
	child.stderr!.on("data", d => (out += d));
	const deadline = Date.now() + 120_000;
	while (!/Connected to broker/.test(out)) {
		if (child.exitCode != null || Date.now() > deadline)
			throw new Error(`Node-RED did not connect:\n${out.slice(-3000)}`);
		await sleep(100);
	}
	// Subscribed right after CONNACK; give the SUBSCRIBE its round trip.
	await sleep(500);
	return {
		pids: [child.pid],
		async stop() {
			process.off("exit", onExit);
			if (child.exitCode == null) {
				const exited = new Promise(r => child.once("exit", r));
				child.kill("SIGTERM");
				await exited;
			}
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
}

// ---- one round ---------------------------------------------------------------------------------------------

interface RoundResult {
	peer: Peer;
	mode: Mode;
	round: number;
	publisher: PublisherKind;
	seconds: number;
	dps: number;
	/** flat: first to last PUBACK; drain: the consumer's spawn to its last committed row. */
	otherSeconds: number;
	/** Rows in decoded_data at the end: must be DATAPOINTS (each published datapoint has its own key). */
	rows: number;
	/** The consumer's processes, summed (fleetmesh-split: ingest node + the rest). */
	cpuConsumer: number;
	/** fleetmesh-split: the ingest node and the rest apart. */
	cpuConsumerParts: number[];
	cpuNats: number;
	cpuMosquitto: number;
	cpuPg: number;
	/** The three publisher processes: with their start (tsx, connecting), and first publish to last PUBACK. */
	cpuPublishers: number;
	cpuPublishersRun: number;
	load: string;
}

/** Polls the row count; resolves at the last row. */
async function waitRows(pg: Client, expected: number, timeoutMs: number): Promise<number> {
	const deadline = Date.now() + timeoutMs;
	let last = -1;
	let lastChange = Date.now();
	for (;;) {
		const n = (await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n;
		const now = Date.now();
		if (n >= expected) return now;
		if (n !== last) {
			last = n;
			lastChange = now;
		}
		if (now > deadline || now - lastChange > 60_000) throw new Error(`only ${n} of ${expected} rows committed`);
		await sleep(100);
	}
}

interface RoundCtx {
	pg: Pg;
	pgClient: Client;
	nats: NatsServer;
	meta: Meta;
	red: string | null;
	namespace: string;
	dataDir: string;
}

async function startConsumer(
	peer: Peer,
	ctx: RoundCtx,
	mosq: Mosquitto,
	onSpawn?: (pids: (number | undefined)[]) => void
): Promise<Consumer> {
	if (peer === "node-red")
		return startNodeRed(ctx.red!, { pgUrl: ctx.pg.url, mqttPort: mosq.plainPort, meta: ctx.meta, onSpawn });
	const env: FleetmeshEnv = {
		pgUrl: ctx.pg.url,
		natsUrl: ctx.nats.url,
		mqttUrl: `mqtt://127.0.0.1:${mosq.plainPort}`,
		dataDir: ctx.dataDir,
		namespace: ctx.namespace,
		onSpawn
	};
	return peer === "fleetmesh" ? startFleetmesh(env) : startFleetmeshSplit(env);
}

const countRows = async (pg: Client) =>
	(await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n;

async function round(peer: Peer, mode: Mode, n: number, publisher: PublisherKind, ctx: RoundCtx): Promise<RoundResult> {
	await ctx.pgClient.query("TRUNCATE decoded_data");
	const mosq: Mosquitto = await startMosquitto(tmp("mosq"));
	const mqttUrl = `mqtt://127.0.0.1:${mosq.plainPort}`;
	const mosqPid = findPid("mosquitto", String(mosq.plainPort));
	const natsPid = findPid("nats-server", String(ctx.nats.port));
	let consumer: Consumer | null = null;
	const sample = (pids: (number | undefined)[]) => ({
		c: pids.map(cpuOf),
		n: cpuOf(natsPid),
		m: cpuOf(mosqPid),
		p: cpuOfTree(ctx.pg.pid)
	});
	try {
		let t0: number;
		let before: ReturnType<typeof sample>;
		let otherSeconds: number;
		let lastCommit: number;
		let load: string;
		let pub: PublishResult;
		if (mode === "flat") {
			consumer = await startConsumer(peer, ctx, mosq);
			before = sample(consumer.pids);
			load = loadavg();
			const rowsDone = waitRows(ctx.pgClient, DATAPOINTS, 600_000);
			rowsDone.catch(() => undefined); // awaited below, after the publishers
			pub = await publish(mqttUrl, publisher);
			lastCommit = await rowsDone;
			t0 = pub.t0;
			otherSeconds = (pub.t1 - pub.t0) / 1000;
		} else {
			// Session and subscription first, then the whole load queued in the broker while the consumer is down.
			await (await startConsumer(peer, ctx, mosq)).stop();
			pub = await publish(mqttUrl, publisher);
			const queued = await countRows(ctx.pgClient);
			if (queued !== 0) throw new Error(`${queued} rows committed while the consumer was down`);
			load = loadavg();
			// The drain starts when the broker has the consumer's session connected again (Mosquitto logs
			// it; the log is read every 10 ms): startup before that is not drain time, after it it is.
			const notPublisher = new RegExp(
				`New client connected from \\S+ as (?!${PUBLISHER_CLIENT_PREFIX})\\S+`,
				"g"
			);
			const consumerConnects = () => (mosq.log().match(notPublisher) ?? []).length;
			const connectsBefore = consumerConnects();
			let pids: (number | undefined)[] = [];
			const spawned = Date.now();
			const started = startConsumer(peer, ctx, mosq, p => (pids = p));
			started.catch(() => undefined);
			while (consumerConnects() === connectsBefore) {
				if (Date.now() - spawned > 120_000) throw new Error(`${peer} did not connect to the broker`);
				await sleep(10);
			}
			t0 = Date.now();
			before = sample(pids);
			lastCommit = await waitRows(ctx.pgClient, DATAPOINTS, 600_000);
			consumer = await started;
			otherSeconds = (lastCommit - spawned) / 1000;
		}
		const after = sample(consumer.pids);
		// Nothing lost, nothing extra: every published datapoint is one row (its own primary key).
		await sleep(500);
		const rows = await countRows(ctx.pgClient);
		if (rows !== DATAPOINTS)
			throw new Error(`${peer} ${mode}: ${rows} rows for ${DATAPOINTS} datapoints published`);
		const seconds = (lastCommit - t0) / 1000;
		const parts = after.c.map((c, i) => c - before.c[i]);
		const r: RoundResult = {
			peer,
			mode,
			round: n,
			publisher,
			seconds,
			dps: DATAPOINTS / seconds,
			otherSeconds,
			rows,
			cpuConsumer: parts.reduce((a, b) => a + b, 0),
			cpuConsumerParts: parts,
			cpuNats: peer === "node-red" ? 0 : after.n - before.n,
			cpuMosquitto: after.m - before.m,
			cpuPg: after.p - before.p,
			cpuPublishers: pub.cpu,
			cpuPublishersRun: pub.cpuRun,
			load
		};
		const publishers =
			`publishers (${publisher}) ${perM(pub.cpuRun)} CPU s per M dp publishing, ` +
			`${perM(pub.cpu)} with their start`;
		const other =
			mode === "flat"
				? `published in ${otherSeconds.toFixed(2)} s, ${publishers}`
				: `${otherSeconds.toFixed(2)} s from its spawn, startup included; ${publishers}, before the drain`;
		const split = parts.length > 1 ? ` (ingest node ${perM(parts[0])} + the rest ${perM(parts[1])})` : "";
		console.log(
			`  round ${n} ${mode} ${peer}: ${DATAPOINTS} datapoints in ${seconds.toFixed(2)} s = ` +
				`${Math.round(r.dps)} dp/s, ${rows} rows (${other}); CPU s per M dp: ${peer} ` +
				`${perM(r.cpuConsumer)}${split}, nats ${perM(r.cpuNats)}, mosquitto ${perM(r.cpuMosquitto)}, ` +
				`postgres ${ctx.pg.pid ? perM(r.cpuPg) : "-"} (load ${load})`
		);
		return r;
	} finally {
		await consumer?.stop();
		await mosq.stop();
	}
}

function loadavg(): string {
	return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

function perM(cpuSeconds: number): string {
	return ((cpuSeconds / DATAPOINTS) * 1e6).toFixed(1);
}

/** The pid of a server we started, found by its binary and a distinctive argument (its port). */
function findPid(binary: string, arg: string): number | undefined {
	for (const d of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
			if (path.basename(cmd[0]) === binary && cmd.some(a => a.includes(arg))) return Number(d);
			// mosquitto gets its port from its config file: match the file that names the port.
			if (path.basename(cmd[0]) === binary && binary === "mosquitto") {
				const conf = cmd[cmd.indexOf("-c") + 1];
				if (conf && fs.readFileSync(conf, "utf8").includes(`listener ${arg} `)) return Number(d);
			}
		} catch {
			// exited meanwhile
		}
	}
	return undefined;
}

function median(xs: number[]): number {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

async function main() {
	for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
	const red = ONLY.includes("node-red") ? ensureNodeRed() : null;
	if (!USE_TSX) execFileSync(process.execPath, [path.join(ROOT, "scripts/compile.mjs")], { stdio: "inherit" });
	console.log(
		`peers bench: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}, ` +
			`${ROUNDS} rounds, ${MESSAGES} messages = ${DATAPOINTS} datapoints per run, ${PUBLISHERS} ` +
			`publisher processes (${PUBLISHER_LIST.join(", then ")}), QoS 1; ` +
			`load ${fs.readFileSync("/proc/loadavg", "utf8").trim()}`
	);
	const pg = await startPg();
	const nats = await startNats(tmp("nats"));
	const dataDir = tmp("fleetmesh");
	const namespace = `peers${process.pid}`;
	const pgClient = new Client({ connectionString: pg.url });
	const results: RoundResult[] = [];
	try {
		await pgClient.connect();
		// The schema comes from fleetmesh's own migrations: one start, then the controllers.
		{
			const mosq = await startMosquitto(tmp("mosq-setup"));
			const setup = await startFleetmesh({
				pgUrl: pg.url,
				natsUrl: nats.url,
				mqttUrl: `mqtt://127.0.0.1:${mosq.plainPort}`,
				dataDir,
				namespace
			});
			await setup.stop();
			await mosq.stop();
		}
		const meta = await seedMeta(pgClient);
		const ctx = { pg, pgClient, nats, meta, red, namespace, dataDir };
		for (const publisher of PUBLISHER_LIST)
			for (let i = 1; i <= ROUNDS; i++)
				for (const mode of MODES)
					for (const peer of PEERS)
						if (ONLY.includes(peer)) results.push(await round(peer, mode, i, publisher, ctx));
	} finally {
		await pgClient.end().catch(() => undefined);
		await nats.kill("SIGTERM");
		await pg.stop();
		for (const dir of [dataDir, `${dataDir}-ingest`]) fs.rmSync(dir, { recursive: true, force: true });
	}
	console.log("");
	console.log(
		"peer             mode  round publisher  seconds  datapoints/s     rows  CPU s/M dp: consumer   +nats " +
			" mosquitto  postgres  publishers (publishing / with start)  load"
	);
	for (const r of results) {
		console.log(
			`${r.peer.padEnd(16)} ${r.mode.padEnd(5)} ${String(r.round).padStart(5)} ${r.publisher.padEnd(9)} ` +
				`${r.seconds.toFixed(2).padStart(8)} ${Math.round(r.dps).toString().padStart(13)} ` +
				`${String(r.rows).padStart(8)} ${perM(r.cpuConsumer).padStart(21)} ${perM(r.cpuNats).padStart(7)} ` +
				`${perM(r.cpuMosquitto).padStart(10)} ${(pg.pid ? perM(r.cpuPg) : "-").padStart(9)} ` +
				`${`${perM(r.cpuPublishersRun)} / ${perM(r.cpuPublishers)}`.padStart(37)}  ${r.load}`
		);
	}
	const all = (r: RoundResult) => r.cpuConsumer + r.cpuNats + r.cpuMosquitto + r.cpuPg;
	for (const publisher of PUBLISHER_LIST)
		for (const mode of MODES)
			for (const fleet of ["fleetmesh", "fleetmesh-split"] as const) {
				const of = (peer: Peer) =>
					results.filter(r => r.peer === peer && r.mode === mode && r.publisher === publisher);
				const fm = of(fleet);
				const nr = of("node-red");
				if (!fm.length || !nr.length) continue;
				const ratios = fm.map((f, i) => (nr[i] ? f.dps / nr[i].dps : NaN)).filter(x => !Number.isNaN(x));
				const throughput = median(fm.map(r => r.dps)) / median(nr.map(r => r.dps));
				const consumer = median(nr.map(r => r.cpuConsumer)) / median(fm.map(r => r.cpuConsumer + r.cpuNats));
				console.log(
					`\n${mode}, ${publisher} publisher: ${fleet} / node-red throughput: ` +
						`median ${throughput.toFixed(2)}x ` +
						`(per round ${ratios.map(x => x.toFixed(2)).join(", ")}); ` +
						`CPU per datapoint node-red / ${fleet}: consumer ${consumer.toFixed(2)}x ` +
						`(fleetmesh counted with its nats-server), ` +
						`all processes ${(median(nr.map(all)) / median(fm.map(all))).toFixed(2)}x`
				);
			}
	process.exit(0);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
