/**
 * The fault scenarios of the data path, shared by test/e2e/pipeline-fault-*.test.ts (small
 * counts, short faults, exact assertions) and bench/chaos (the 42,000-datapoint run, printed).
 *
 * Every scenario: a private nats-server (JetStream) and, where the scenario uses one, a private
 * Mosquitto from the shipped config; pipeline nodes as OS processes started like `npm start`;
 * a QoS 1 publisher with a known number of frames; the fault injected mid-stream. The result
 * says what was sent, stored, lost and duplicated, how long the backlog of the outage took to
 * drain after the fault ended, and which nodes exited that were not killed on purpose.
 */
import fs from "node:fs";
import path from "node:path";
import { connect } from "nats";
import { Client } from "pg";
import { startMosquitto, type Mosquitto } from "../integration/pipeline-support";
import { tempDir, uniqueNamespace } from "./broker";
import {
	countRows,
	publishFrames,
	startNats,
	startNatsCluster,
	waitJetStream,
	DATAPOINTS_PER_ITERATION,
	type NatsServer
} from "./chaos";
import { createTestDatabase, type TestDatabase } from "./db";
import { startNode, type NodeProcess } from "./node-process";
import { freePort } from "./ports";
import { errorMessage } from "../../services/shared/error-message";

export type FaultKind = "nats" | "nats-cluster" | "cloud-node" | "ingest-node" | "embedded-ingest";

export const FAULTS: Record<FaultKind, string> = {
	nats: "kill -9 the NATS server, then restart it",
	"nats-cluster": "kill -9 one of three clustered NATS servers (R3 streams), not restarted",
	"cloud-node": "kill -9 the cloud node (ingest + decode + sink, Mosquitto)",
	"ingest-node": "kill -9 one of two ingest nodes (shared subscription, Mosquitto)",
	"embedded-ingest": "kill -9 the node with the embedded broker (ingest + decode + sink)"
};

export interface ScenarioOptions {
	iterations: number;
	intervalMs: number;
	/** Published iterations before the fault. */
	faultAfter: number;
	faultMs: number;
	/** How long to wait for every datapoint after the fault ended (default 60 s). */
	drainTimeoutMs?: number;
	log?: (line: string) => void;
}

export interface ScenarioResult {
	fault: FaultKind;
	sent: number;
	stored: number;
	lost: number;
	duplicated: number;
	incomplete: number;
	/** From the end of the fault until every datapoint published before it ended was stored. */
	recoverMs: number | null;
	/** Datapoints published, and rows stored, when the fault was injected. */
	publishedAtFault: number;
	storedAtFault: number;
	/** Replicas of each JetStream stream of the mesh (the cluster scenario), else null. */
	replicas: number[] | null;
	/** Nodes that exited without being killed by the scenario (name: output tail). */
	exited: Record<string, string>;
}

interface Mesh {
	nats: NatsServer;
	transporter: string;
	cluster: NatsServer[] | null;
	mosq: Mosquitto | null;
	db: TestDatabase;
	nodes: Map<string, NodeProcess>;
	killed: Set<NodeProcess>;
	start(name: string, env: Record<string, string>): Promise<NodeProcess>;
	stop(): Promise<void>;
}

async function createMesh(name: string, withMosquitto: boolean, clustered = false): Promise<Mesh> {
	const dir = tempDir(`chaos-${name}`);
	const namespace = uniqueNamespace(`chaos-${name}`);
	const db = await createTestDatabase(`chaos_${name.replace(/-/g, "_")}`);
	const cluster = clustered ? await startNatsCluster(path.join(dir, "nats")) : null;
	// A cluster that never forms must not outlive the run.
	if (cluster)
		await waitJetStream(cluster.urls.split(",")[0]).catch(async err => Promise.reject((await cluster.stop(), err)));
	const nats = cluster ? cluster.servers[0] : await startNats(dir);
	const transporter = cluster ? cluster.urls : nats.url;
	const mosq = withMosquitto ? await startMosquitto(tempDir(`chaos-${name}-mosq`)) : null;
	const nodes = new Map<string, NodeProcess>();
	const dataDirs = new Map<string, string>();
	const killed = new Set<NodeProcess>();
	const mesh: Mesh = {
		nats,
		transporter,
		cluster: cluster?.servers ?? null,
		mosq,
		db,
		nodes,
		killed,
		async start(nodeName, env) {
			if (!dataDirs.has(nodeName)) dataDirs.set(nodeName, path.join(dir, nodeName));
			const node = startNode({
				NAMESPACE: namespace,
				NODEID: nodeName,
				TRANSPORTER: transporter,
				...(cluster ? { CHANNELS_REPLICAS: "3" } : {}),
				DATABASE_URL: db.url,
				DATA_DIR: dataDirs.get(nodeName)!,
				SIMULATE: "0",
				BATCH_SIZE: "500",
				FLUSH_INTERVAL_MS: "50",
				// A consumer killed mid-message: its messages go to the next one after 3 s, not 30.
				CHANNELS_ACK_WAIT_MS: "3000",
				LOGLEVEL: "info",
				...(mosq ? { MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}` } : {}),
				...env
			});
			nodes.set(nodeName, node);
			await node.waitForOutput(/ServiceBroker with \d+ service\(s\) started successfully/, 60_000);
			if (/pipeline-ingest|^pipeline$/.test(env.SERVICES ?? "") && mosq)
				await node.waitForOutput(/mqtt: subscribed to/, 20_000);
			return node;
		},
		async stop() {
			await Promise.all([...nodes.values()].map(n => n.kill("SIGKILL")));
			if (cluster) await cluster.stop();
			else await nats.kill("SIGTERM");
			await mosq?.stop();
			await db.drop();
		}
	};
	return mesh;
}

/** Each JetStream consumer's messages not yet delivered / delivered and not acknowledged / redelivered. */
async function jetStreamBacklog(transporter: string): Promise<string> {
	const u = new URL(transporter.split(",")[0]);
	const nc = await connect({
		servers: u.host,
		user: u.username || undefined,
		pass: u.password || undefined,
		timeout: 2000
	});
	try {
		const jsm = await nc.jetstreamManager({ timeout: 2000 });
		const out: string[] = [];
		for await (const st of jsm.streams.list())
			for await (const ci of jsm.consumers.list(st.config.name))
				out.push(
					`${st.config.name}/${ci.name}: pending ${ci.num_pending}, unacked ${ci.num_ack_pending}, ` +
						`redelivered ${ci.num_redelivered}${ci.push_bound === false ? ", no subscriber" : ""}`
				);
		return out.join("; ") || "no consumers";
	} finally {
		await nc.close();
	}
}

/** Kills a node with SIGKILL (on purpose: not counted as an exit). */
async function crash(mesh: Mesh, name: string): Promise<void> {
	const node = mesh.nodes.get(name)!;
	mesh.killed.add(node);
	await node.kill("SIGKILL");
}

export async function runScenario(fault: FaultKind, opts: ScenarioOptions): Promise<ScenarioResult> {
	const log = opts.log ?? (() => undefined);
	const mesh = await createMesh(fault, fault !== "embedded-ingest", fault === "nats-cluster");
	const pg = new Client({ connectionString: mesh.db.url });
	await pg.connect();
	try {
		let brokerUrl: string;
		let restart: () => Promise<unknown>;
		let inject: () => Promise<unknown>;
		if (fault === "nats") {
			await mesh.start("edge-ingest", { SERVICES: "pipeline-ingest,pipeline-decode" });
			await mesh.start("cloud-sink", { SERVICES: "pipeline-sink" });
			brokerUrl = `mqtt://127.0.0.1:${mesh.mosq!.plainPort}`;
			inject = () => mesh.nats.kill("SIGKILL");
			restart = () => mesh.nats.start();
		} else if (fault === "nats-cluster") {
			await mesh.start("edge-ingest", { SERVICES: "pipeline-ingest,pipeline-decode" });
			await mesh.start("cloud-sink", { SERVICES: "pipeline-sink" });
			brokerUrl = `mqtt://127.0.0.1:${mesh.mosq!.plainPort}`;
			// The first seed: the server the nodes connected to first.
			inject = () => mesh.cluster![0].kill("SIGKILL");
			restart = async () => undefined;
		} else if (fault === "cloud-node") {
			await mesh.start("cloud", { SERVICES: "pipeline" });
			brokerUrl = `mqtt://127.0.0.1:${mesh.mosq!.plainPort}`;
			inject = () => crash(mesh, "cloud");
			restart = () => mesh.start("cloud", { SERVICES: "pipeline" });
		} else if (fault === "ingest-node") {
			await mesh.start("ingest-1", { SERVICES: "pipeline-ingest" });
			await mesh.start("ingest-2", { SERVICES: "pipeline-ingest" });
			await mesh.start("store", { SERVICES: "pipeline-decode,pipeline-sink" });
			brokerUrl = `mqtt://127.0.0.1:${mesh.mosq!.plainPort}`;
			inject = () => crash(mesh, "ingest-1");
			restart = () => mesh.start("ingest-1", { SERVICES: "pipeline-ingest" });
		} else {
			const mqttPort = String(await freePort());
			const env = { SERVICES: "pipeline", MQTT_PORT: mqttPort, MQTTS_PORT: String(await freePort()) };
			await mesh.start("edge", env);
			brokerUrl = `mqtt://127.0.0.1:${mqttPort}`;
			inject = () => crash(mesh, "edge");
			restart = () => mesh.start("edge", env);
		}

		// The streams exist once the nodes subscribed: their replicas, read before any fault.
		let replicas: number[] | null = null;
		if (mesh.cluster) {
			const second = new URL(mesh.transporter.split(",")[1]);
			const nc = await connect({ servers: second.host, user: second.username, pass: second.password });
			replicas = [];
			for await (const st of (await nc.jetstreamManager({ timeout: 10_000 })).streams.list())
				replicas.push(st.config.num_replicas);
			await nc.close();
		}
		const pub = publishFrames(brokerUrl, opts.iterations, opts.intervalMs);
		while (pub.published() < opts.faultAfter) await new Promise(r => setTimeout(r, 20));
		const publishedAtFault = pub.datapoints();
		const storedAtFault = (await countRows(pg)).rows;
		log(`${fault}: fault after ${publishedAtFault} datapoints published, ${storedAtFault} stored`);
		await inject();
		await new Promise(r => setTimeout(r, opts.faultMs));
		await restart();
		const faultEnd = Date.now();
		const beforeEnd = pub.datapoints();
		log(`${fault}: back after ${opts.faultMs} ms; ${beforeEnd} datapoints published so far`);
		let recoverMs: number | null = null;
		const sent = opts.iterations * DATAPOINTS_PER_ITERATION;
		const deadline = Date.now() + (opts.drainTimeoutMs ?? 60_000);
		let nextReport = Date.now() + 5000;
		for (;;) {
			const c = await countRows(pg);
			if (recoverMs == null && c.rows >= beforeEnd) recoverMs = Date.now() - faultEnd;
			if ((c.rows >= sent && recoverMs != null) || Date.now() > deadline) break;
			if (opts.log && Date.now() >= nextReport) {
				// Where a slow or stuck drain stands: rows, and each JetStream consumer's backlog.
				nextReport = Date.now() + 5000;
				log(`${fault}: ${c.rows} rows; ${await jetStreamBacklog(mesh.transporter).catch(errorMessage)}`);
			}
			await new Promise(r => setTimeout(r, 100));
		}
		await pub.done.catch(err => log(`${fault}: publisher: ${errorMessage(err)}`));
		await pub.end();
		// A little longer: late redeliveries would show here.
		await new Promise(r => setTimeout(r, 1000));
		const c = await countRows(pg);
		// CHAOS_LOG_DIR=<dir>: every node's output as <dir>/<fault>-<node>.log, to read after a bad run.
		if (process.env.CHAOS_LOG_DIR) {
			fs.mkdirSync(process.env.CHAOS_LOG_DIR, { recursive: true });
			for (const [name, node] of mesh.nodes)
				fs.writeFileSync(path.join(process.env.CHAOS_LOG_DIR, `${fault}-${name}.log`), node.output());
		}
		const exited: Record<string, string> = {};
		for (const [name, node] of mesh.nodes) {
			if (!mesh.killed.has(node) && node.child.exitCode != null) exited[name] = node.output().slice(-2000);
			if (/unhandled rejection/i.test(node.output()))
				exited[`${name} (unhandled rejection)`] = node.output().match(/.*unhandled rejection.*/i)![0];
		}
		return {
			fault,
			replicas,
			publishedAtFault,
			storedAtFault,
			sent,
			stored: c.distinct,
			lost: Math.max(0, sent - c.distinct),
			duplicated: c.rows - c.distinct,
			incomplete: c.incomplete,
			recoverMs,
			exited
		};
	} finally {
		await pg.end();
		await mesh.stop();
	}
}
