/**
 * Pipeline benchmark: datapoints per second from MQTT publish to committed rows, and
 * publish-to-commit latency. Prints figures; asserts nothing.
 *
 *   npx tsx bench/pipeline/index.ts [--frames 150000] [--rate 6000] [--only real,paced,embedded,naive]
 *     [--publisher lean|mqttjs]
 *
 * Scenarios (the load generator, bench/pipeline/publisher.ts, runs in its own process; --publisher
 * picks its MQTT client, the same frames either way):
 *   real      Mosquitto (docker/mosquitto config) + NATS JetStream + PostgreSQL, flat out
 *   paced     the same at a fixed offered rate (latency without a standing queue)
 *   embedded  the defaults of `npm start`: aedes over mTLS + in-process channels + PGlite
 *   naive     baseline: one subscriber, one INSERT per datapoint, no channels, no batching
 * Needs the loopback servers of test/helpers/servers.ts (PostgreSQL, NATS, mosquitto binary).
 * Real and paced print the CPU seconds per million datapoints of this process (the pipeline) and
 * of its Mosquitto; BENCH_PROFILE=<dir> writes a CPU profile of the pipeline's run there.
 * BENCH_TIMELINE=1 prints each second's p50/p99; BENCH_STAGES=1 the time since publish at each
 * stage, by 100 ms of publish time (bench/pipeline/stages.ts). Real and paced publish once the
 * node's readiness checks all pass (the ones `/ready` runs: warmed up, subscribed, connected).
 */
import { createKeyAndCsr } from "../../services/shared/csr";
import fs from "node:fs";
import inspector from "node:inspector";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../../test/helpers/pipeline-services";
import SigningService from "../../services/signing/signing.service";
import {
	buildControllerSpec,
	decodeFrame,
	parsePayload,
	parseTopic,
	type ControllerSpec
} from "../../services/pipeline-decode/decode";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { runHealthChecks } from "../../mixins/health";
import { createTestBroker, tempDir, uniqueNamespace } from "../../test/helpers/broker";
import { createTestDatabase } from "../../test/helpers/db";
import { freePort } from "../../test/helpers/ports";
import { NATS_URL, requireServer } from "../../test/helpers/servers";
import { startMosquitto } from "../../test/integration/pipeline-support";
import { benchMacs, option, seedControllers } from "../lib/controllers";
import { cpuOf, PUBLISHER_KINDS, spawnPublishers, type PublisherKind, type PublishResult } from "../lib/publishers";
import { StageTrace } from "./stages";

const FRAMES = Number(option("frames", "150000"));
const RATE = Number(option("rate", "6000"));
const ONLY = option("only", "real,paced,embedded,naive").split(",");
const CONTROLLERS = 20;
const PUBLISHER = option("publisher", "lean") as PublisherKind;
if (!PUBLISHER_KINDS.includes(PUBLISHER)) throw new Error(`--publisher ${PUBLISHER}: ${PUBLISHER_KINDS.join(" or ")}`);

const MACS = benchMacs(CONTROLLERS);
/** The bench's controllers, in the database the pipeline services use. */
const seed = (db: Database) => seedControllers((text, values) => db.query(text, values), MACS);

/** Datapoints in `frames` frames as the publisher sends them (sensor 1: 3, sensor 2: 4). */
function datapointsIn(frames: number): number {
	let n = 0;
	for (let i = 0; i < frames; i++) n += Math.floor(i / MACS.length) % 2 === 0 ? 3 : 4;
	return n;
}

interface Result {
	scenario: string;
	frames: number;
	datapoints: number;
	seconds: number;
	dps: number;
	publishDps: number;
	p50: number | null;
	p99: number | null;
	/** The same without the rows published in the first second (the warm-up). */
	steady?: { p50: number | null; p99: number | null };
	/** CPU seconds per million datapoints, first publish to last commit (real and paced). */
	cpu?: { node: number; mosquitto: number };
}

/**
 * BENCH_PROFILE=<dir>: a V8 CPU profile of this process (the pipeline) from the first publish to
 * the last commit, written as <dir>/<scenario>.cpuprofile (node --cpu-prof would add startup and
 * the bench's own setup). With BENCH_PROFILE_MS=<ms> only that long from the first publish (the cold
 * start), written as <dir>/first.cpuprofile.
 */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | null> {
	const dir = process.env.BENCH_PROFILE ?? "";
	if (!dir) return null;
	const session = new inspector.Session();
	session.connect();
	const post = (method: string, params?: object) =>
		new Promise<any>((resolve, reject) =>
			session.post(method, params, (err, res) => (err ? reject(err) : resolve(res)))
		);
	await post("Profiler.enable");
	await post("Profiler.setSamplingInterval", { interval: 500 });
	await post("Profiler.start");
	// BENCH_PROFILE_HEAP=1: where the garbage comes from too (sampled allocations, a .heapprofile).
	const heap = !!process.env.BENCH_PROFILE_HEAP;
	if (heap)
		await post("HeapProfiler.startSampling", {
			samplingInterval: 16384,
			includeObjectsCollectedByMajorGC: true,
			includeObjectsCollectedByMinorGC: true
		});
	// BENCH_PROFILE_MS=1500: only the first 1.5 s of the load (the cold start), then the profile is written.
	const firstMs = Number(process.env.BENCH_PROFILE_MS ?? 0);
	let stopped: Promise<void> | null = null;
	const stop = (name: string) => (stopped ??= write(name));
	if (firstMs > 0) setTimeout(() => void stop("first"), firstMs).unref();
	return { stop };

	async function write(name: string) {
		if (heap) {
			const { profile: h } = await post("HeapProfiler.stopSampling");
			fs.mkdirSync(dir, { recursive: true });
			fs.writeFileSync(path.join(dir, `${name}.heapprofile`), JSON.stringify(h));
		}
		const { profile } = await post("Profiler.stop");
		session.disconnect();
		fs.mkdirSync(dir, { recursive: true });
		fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
		console.log(`  ${name}: CPU profile in ${path.join(dir, `${name}.cpuprofile`)}`);
	}
}

/** CPU seconds of this process: the pipeline's services (and the bench's own counting of commits). */
function cpuOfSelf(): number {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1e6;
}

function percentile(sorted: Float64Array, p: number): number | null {
	if (sorted.length === 0) return null;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The load generator in its own process (bench/lib/publishers.ts), all the bench's controllers. */
async function runPublisher(
	url: string,
	frames: number,
	rate: number,
	qos: 0 | 1,
	tlsFile?: string
): Promise<PublishResult> {
	return spawnPublishers({ url, macs: MACS, frames, rate, qos, tlsFile, publisher: PUBLISHER });
}

/** Wraps the sink's write to time every committed row against its publish timestamp. */
function instrumentSink(broker: ServiceBroker, trace?: StageTrace) {
	const svc = broker.getLocalService("pipeline-sink") as unknown as {
		sink: { opts: { write: (rows: { ts: number }[]) => Promise<number> } };
	};
	const original = svc.sink.opts.write;
	const state = { committed: 0, lastCommit: 0, latencies: [] as number[] };
	timeline.ts.length = timeline.latency.length = 0;
	svc.sink.opts.write = async rows => {
		const started = Date.now();
		const n = await original(rows);
		const now = Date.now();
		trace?.write(
			rows.map(r => r.ts),
			started,
			now
		);
		state.committed += n;
		state.lastCommit = now;
		for (const r of rows) {
			state.latencies.push(now - r.ts);
			timeline.ts.push(r.ts);
			timeline.latency.push(now - r.ts);
		}
		return n;
	};
	return state;
}

/**
 * Publish time and publish-to-commit latency of every committed row of the current scenario, as
 * two arrays of numbers: a pair per row was garbage in the process whose CPU the bench measures.
 */
const timeline = { ts: [] as number[], latency: [] as number[] };

/**
 * The latency of the rows published after the first second: the first second pays the pipeline's
 * warm-up (JIT, the first pool connections, the decoder's metadata lookups, JetStream consumers
 * fetching), which on its own sets the p99 of a 15 s run. Both figures are printed.
 * BENCH_TIMELINE=1 also prints the p50/p99 of each second.
 */
function steadyLatency(): { p50: number | null; p99: number | null } {
	const start = timeline.ts.reduce((m, t) => Math.min(m, t), Infinity);
	const sorted = Float64Array.from(timeline.latency.filter((_, i) => timeline.ts[i] >= start + 1000)).sort();
	if (process.env.BENCH_TIMELINE) printTimeline(start);
	timeline.ts.length = timeline.latency.length = 0;
	return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function printTimeline(start: number): void {
	const bySecond = new Map<number, number[]>();
	for (let i = 0; i < timeline.ts.length; i++) {
		const s = Math.floor((timeline.ts[i] - start) / 1000);
		const list = bySecond.get(s) ?? [];
		list.push(timeline.latency[i]);
		bySecond.set(s, list);
	}
	for (const [s, lats] of [...bySecond].sort((a, b) => a[0] - b[0])) {
		const sorted = Float64Array.from(lats).sort();
		console.log(
			`  second ${String(s).padStart(3)}: ${String(lats.length).padStart(6)} rows, p50 ` +
				`${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted[sorted.length - 1]} ms`
		);
	}
}

/** Until every readiness check of the node passes (the gateway's `/ready` runs the same ones). */
async function waitReady(broker: ServiceBroker): Promise<void> {
	const deadline = Date.now() + 60_000;
	for (;;) {
		const report = await runHealthChecks(broker);
		if (report.ready) {
			if (process.env.BENCH_DEBUG) console.log(`  ready: ${JSON.stringify(report.checks)}`);
			return;
		}
		if (Date.now() > deadline) throw new Error(`not ready after 60 s: ${JSON.stringify(report.checks)}`);
		await new Promise(r => setTimeout(r, 50));
	}
}

async function waitCommitted(state: { committed: number }, expected: number, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let lastLog = Date.now();
	while (state.committed < expected) {
		if (Date.now() - lastLog > 5000) {
			lastLog = Date.now();
			console.log(`  … ${state.committed} of ${expected} rows committed`);
		}
		if (Date.now() > deadline || (process.env.BENCH_DEBUG && Date.now() - lastLog > 4000))
			console.log(JSON.stringify(await (globalThis as any).benchBroker?.call("pipeline-ingest.stats")));
		if (Date.now() > deadline)
			throw new Error(`only ${state.committed} of ${expected} rows committed after ${timeoutMs} ms`);
		await new Promise(r => setTimeout(r, 20));
	}
}

function summarise(
	scenario: string,
	frames: number,
	t0: number,
	t1: number,
	lastCommit: number,
	latencies: number[]
): Result {
	const datapoints = datapointsIn(frames);
	const seconds = (lastCommit - t0) / 1000;
	const sorted = Float64Array.from(latencies).sort();
	return {
		scenario,
		frames,
		datapoints,
		seconds,
		dps: datapoints / seconds,
		publishDps: datapoints / ((t1 - t0) / 1000),
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99)
	};
}

/**
 * BENCH_CONSUMERS=monitoring,automation: those consumers of telemetry.readings (each its own
 * group, so each gets every batch) run in the pipeline's process too, as on a `npm start` node.
 */
async function readingsConsumers(): Promise<ServiceSchema[]> {
	const names = (process.env.BENCH_CONSUMERS ?? "").split(",").filter(Boolean);
	const out: ServiceSchema[] = [];
	for (const name of names) {
		if (name === "monitoring") out.push((await import("../../services/monitoring/monitoring.service")).default);
		else if (name === "automation")
			out.push((await import("../../services/automation/automation.service")).default);
		else throw new Error(`BENCH_CONSUMERS: ${name} is not monitoring or automation`);
	}
	return out;
}

/** Until the BENCH_CONSUMERS have taken every reading too (their CPU then counts in full). */
async function waitConsumers(broker: ServiceBroker, expected: number): Promise<void> {
	const counted = () => {
		const mon = broker.getLocalService("monitoring") as unknown as { counters: { readings: number } } | undefined;
		const aut = broker.getLocalService("automation") as unknown as
			{ core: { counters: { readings: number } } } | undefined;
		return [mon?.counters.readings, aut?.core.counters.readings].filter((n): n is number => n !== undefined);
	};
	const deadline = Date.now() + 120_000;
	while (counted().some(n => n < expected)) {
		if (Date.now() > deadline) throw new Error(`consumers took ${counted().join(", ")} of ${expected} readings`);
		await new Promise(r => setTimeout(r, 20));
	}
}

async function realServers(scenario: "real" | "paced", frames: number, rate: number): Promise<Result> {
	const db = await createTestDatabase("bench_pipeline");
	const mosq = await startMosquitto(tempDir("bench-mosq"));
	const broker = createTestBroker({
		namespace: uniqueNamespace("bench-pipeline"),
		env: {
			TRANSPORTER: NATS_URL,
			DATABASE_URL: db.url,
			MQTT_URL: `mqtt://127.0.0.1:${mosq.plainPort}`,
			LOGLEVEL: process.env.BENCH_LOGLEVEL ?? "error",
			...(process.env.BATCH_SIZE ? { BATCH_SIZE: process.env.BATCH_SIZE } : {})
		},
		services: [...PIPELINE_SERVICES, ...(await readingsConsumers())]
	});
	try {
		// The controllers are registered before the pipeline starts, as in a deployment that restarts.
		const setup = await openDatabase({ databaseUrl: db.url, dataDir: tempDir("bench-setup") });
		await migrate(setup);
		await seed(setup);
		await setup.close();
		await broker.start();
		// What `/ready` of this node waits for (mixins/health.ts): subscribed, connected, warmed up.
		await waitReady(broker);
		const stages = process.env.BENCH_STAGES ? new StageTrace() : undefined;
		stages?.attach(broker);
		const state = instrumentSink(broker, stages);
		(globalThis as any).benchBroker = broker;
		const trace = process.env.BENCH_TRACE
			? setInterval(async () => {
					const [ing, dec, snk] = await Promise.all(
						["pipeline-ingest", "pipeline-decode", "pipeline-sink"].map(s => broker.call<any>(`${s}.stats`))
					);
					console.log(
						`  ${Date.now() % 100000} received ${ing.received} decoded ${dec.decodedMessages} ` +
							`readings ${dec.readings} stored ${snk.sink.stored} pendingRows ${snk.sink.pendingRows}`
					);
				}, 250)
			: null;
		const profile = await startProfile();
		const cpu0 = { node: cpuOfSelf(), mosquitto: cpuOf(mosq.pid) };
		const pub = await runPublisher(`mqtt://127.0.0.1:${mosq.plainPort}`, frames, rate, 1);
		const { t0, t1 } = pub;
		console.log(`  ${scenario}: published ${frames} frames in ${t1 - t0} ms`);
		await waitCommitted(state, datapointsIn(frames), 300_000);
		await waitConsumers(broker, datapointsIn(frames));
		await profile?.stop(scenario);
		const perM = 1e6 / datapointsIn(frames);
		const cpu = {
			node: (cpuOfSelf() - cpu0.node) * perM,
			mosquitto: (cpuOf(mosq.pid) - cpu0.mosquitto) * perM
		};
		console.log(
			`  ${scenario}: CPU s per M datapoints: node ${cpu.node.toFixed(2)}, mosquitto ` +
				`${cpu.mosquitto.toFixed(2)}, publisher (${PUBLISHER}, its own process) ` +
				`${(pub.cpuRun * perM).toFixed(2)} (load ${os.loadavg()[0].toFixed(2)})`
		);
		if (trace) clearInterval(trace);
		stages?.detach();
		stages?.print();
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		const rows = (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n;
		await pg.end();
		if (rows !== datapointsIn(frames))
			throw new Error(`decoded_data holds ${rows} rows, expected ${datapointsIn(frames)}`);
		return {
			...summarise(scenario, frames, t0, t1, state.lastCommit, state.latencies),
			steady: steadyLatency(),
			cpu
		};
	} finally {
		await broker.stop();
		await mosq.stop();
		await db.drop();
	}
}

async function embedded(frames: number): Promise<Result> {
	const mqttsPort = await freePort();
	const dataDir = tempDir("bench-embedded");
	const broker = createTestBroker({
		namespace: uniqueNamespace("bench-embedded"),
		env: {
			DATA_DIR: dataDir,
			MQTT_PORT: String(await freePort()),
			MQTTS_PORT: String(mqttsPort),
			LOGLEVEL: "error"
		},
		services: [SigningService, ...PIPELINE_SERVICES]
	});
	try {
		await broker.start();
		await seed((broker.getLocalService("pipeline-decode") as unknown as { db: Database }).db);
		while (!(await broker.call<any>("pipeline-ingest.stats")).broker.tlsPort)
			await new Promise(r => setTimeout(r, 50));
		const certs: Record<string, unknown> = {};
		for (const mac of MACS) {
			const { keyPem, csrPem } = await createKeyAndCsr("f2-bench");
			certs[mac] = {
				...(await broker.call<{ cert: string; ca: string }, { mac: string; csr: string }>(
					"signing.issueDeviceCert",
					{ mac, csr: csrPem }
				)),
				key: keyPem
			};
		}
		const tlsFile = path.join(dataDir, "bench-certs.json");
		fs.writeFileSync(tlsFile, JSON.stringify(certs), { mode: 0o600 });
		const state = instrumentSink(broker);
		const { t0, t1 } = await runPublisher(`mqtts://127.0.0.1:${mqttsPort}`, frames, 0, 1, tlsFile);
		await waitCommitted(state, datapointsIn(frames), 300_000);
		return summarise("embedded", frames, t0, t1, state.lastCommit, state.latencies);
	} finally {
		await broker.stop();
	}
}

async function naive(frames: number): Promise<Result> {
	const db = await createTestDatabase("bench_naive");
	const mosq = await startMosquitto(tempDir("bench-naive"));
	// Schema and metadata through the same migrations, then the pipeline steps aside.
	const setup = createTestBroker({
		namespace: uniqueNamespace("bench-naive"),
		env: {
			DATABASE_URL: db.url,
			MQTT_PORT: String(await freePort()),
			MQTTS_PORT: String(await freePort()),
			LOGLEVEL: "error"
		},
		services: [...PIPELINE_SERVICES]
	});
	await setup.start();
	await seed((setup.getLocalService("pipeline-decode") as unknown as { db: Database }).db);
	await setup.stop();
	const pg = new Client({ connectionString: db.url });
	await pg.connect();
	try {
		const specs = new Map<string, ControllerSpec>();
		for (const mac of MACS) {
			const [d] = (await pg.query("SELECT id, mac FROM devices WHERE mac = $1", [mac])).rows;
			const s = (await pg.query("SELECT sensor, frame_length FROM pipeline_sensors WHERE device_id = $1", [d.id]))
				.rows;
			const p = (await pg.query("SELECT id, label, decoding FROM datapoints WHERE device_id = $1", [d.id])).rows;
			specs.set(mac, buildControllerSpec(d, s, p));
		}
		const latencies: number[] = [];
		let committed = 0;
		let lastCommit = 0;
		let chain = Promise.resolve();
		const sub = mqtt.connect(`mqtt://127.0.0.1:${mosq.plainPort}`);
		await new Promise(r => sub.once("connect", r));
		await sub.subscribeAsync("stat/+/+/+/+", { qos: 1 });
		sub.on("message", (topic, payload) => {
			// The seed's first design: each message decoded and written on its own, row by row.
			chain = chain.then(async () => {
				const t = parseTopic(topic);
				const readings = decodeFrame(specs.get(t.mac)!, t.sensor, parsePayload(payload));
				for (const r of readings) {
					await pg.query(
						"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, " +
							"$2, $3, $4) ON CONFLICT DO NOTHING",
						[new Date(r.ts as number).toISOString(), r.deviceId, r.datapointId, r.value]
					);
					committed++;
					lastCommit = Date.now();
					latencies.push(lastCommit - (r.ts as number));
				}
			});
		});
		const { t0, t1 } = await runPublisher(`mqtt://127.0.0.1:${mosq.plainPort}`, frames, 0, 1);
		const deadline = Date.now() + 600_000;
		while (committed < datapointsIn(frames) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
		await sub.endAsync();
		return summarise("naive", frames, t0, t1, lastCommit, latencies);
	} finally {
		await pg.end();
		await mosq.stop();
		await db.drop();
	}
}

async function main() {
	// A bench stopped by a signal still runs the exit hooks (its own mosquitto goes with it).
	for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
	await requireServer("postgres");
	await requireServer("nats");
	console.log(
		`pipeline bench on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${CONTROLLERS} ` +
			`controllers, node ${process.version}, publisher ${PUBLISHER}`
	);
	const results: Result[] = [];
	if (ONLY.includes("real")) results.push(await realServers("real", FRAMES, 0));
	if (ONLY.includes("paced")) results.push(await realServers("paced", Math.min(FRAMES, RATE * 15), RATE));
	if (ONLY.includes("embedded")) results.push(await embedded(Math.round(FRAMES / 3)));
	if (ONLY.includes("naive")) results.push(await naive(Math.max(2000, Math.round(FRAMES / 30))));
	console.log("");
	console.log(
		"scenario   frames   datapoints  seconds  datapoints/s  offered dp/s  p50 ms  p99 ms  " +
			"after the 1st s: p50  p99  CPU s/M dp: node  mosquitto"
	);
	for (const r of results) {
		console.log(
			`${r.scenario.padEnd(9)} ${String(r.frames).padStart(7)} ${String(r.datapoints).padStart(11)} ` +
				`${r.seconds.toFixed(1).padStart(8)} ${Math.round(r.dps).toString().padStart(13)} ` +
				`${Math.round(r.publishDps).toString().padStart(13)} ${String(r.p50 ?? "-").padStart(7)} ` +
				`${String(r.p99 ?? "-").padStart(7)}` +
				(r.steady
					? `  ${String(r.steady.p50 ?? "-").padStart(19)} ${String(r.steady.p99 ?? "-").padStart(4)}`
					: "") +
				(r.cpu ? `  ${r.cpu.node.toFixed(2).padStart(16)} ${r.cpu.mosquitto.toFixed(2).padStart(10)}` : "")
		);
	}
	const real = results.find(r => r.scenario === "real");
	const base = results.find(r => r.scenario === "naive");
	if (real && base) console.log(`\nreal / naive: ${(real.dps / base.dps).toFixed(1)}x`);
	process.exit(0);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
