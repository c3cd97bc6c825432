/**
 * bench/mesh: action call throughput and latency in one process and between two processes
 * over NATS; event emit throughput. Prints figures; asserts nothing.
 *
 *   npm run bench:mesh            (needs NATS on 127.0.0.1:4222 for the two-process part)
 *   CALLS=20000 npm run bench:mesh
 *   SERIALIZERS=JSON,MsgPack,Notepack,CBOR npm run bench:mesh   (the NATS part once per
 *                 serializer, with the CPU µs per call of each process from /proc)
 *   METRICS=0 npm run bench:mesh   (both ends without Moleculer metrics)
 *   CONCURRENCIES=1,16,64,256 npm run bench:mesh   (calls in flight; p50/p99 are per call at
 *                 that concurrency, so they include the wait behind the other calls in flight)
 *   MESH_NODE_ARGS="--max-semi-space-size=32" node --max-semi-space-size=32 --import tsx bench/mesh/index.ts
 *                 (V8 flags for the remote node, and for the caller, this process, on node's command line;
 *                 MESH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the remote node)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../moleculer.config";
import { readEnv } from "../../services/shared/env";
import EchoService from "../../test/fixtures/mesh/echo.service";
import { startNode } from "../../test/helpers/node-process";

const CALLS = Number(process.env.CALLS ?? 20_000);
const CONCURRENCIES = (process.env.CONCURRENCIES ?? process.env.CONCURRENCY ?? "1,16,64,256").split(",").map(Number);
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
/** Node variables given to both ends when set here (METRICS=0 measures the cost of metrics per call). */
const NODE_VARS = Object.fromEntries(
	["METRICS", "REQUEST_TIMEOUT_MS"].filter(k => process.env[k] != null).map(k => [k, process.env[k]!])
);
const SERIALIZER_RUNS = (process.env.SERIALIZERS ?? "JSON").split(",");
/** node's own arguments for the remote node (V8 flags, --cpu-prof): NODE_OPTIONS does not take them all. */
const REMOTE_NODE_ARGS = (process.env.MESH_NODE_ARGS ?? "").split(" ").filter(Boolean);

/** utime+stime of a process in seconds, from /proc. */
function cpuSeconds(pid: number): number {
	const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
	const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	return (Number(f[11]) + Number(f[12])) / 100;
}

function loadavg() {
	return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

function percentile(sorted: number[], p: number) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Each process gets a DATA_DIR of its own: DATA_DIR is locked by one process, and with the
 * default ./data the caller held the lock, so the remote node exited at start-up ("in use by
 * another fleetmesh process") and the caller waited for its echo service in vain.
 */
function dataDir(name: string) {
	return fs.mkdtempSync(path.join(os.tmpdir(), `fleetmesh-bench-mesh-${name}-`));
}

function makeBroker(env: Record<string, string>) {
	const options = buildBrokerOptions(
		readEnv({ LOGLEVEL: "warn", PORT: "0", DATA_DIR: dataDir("caller"), ...NODE_VARS, ...env })
	);
	return new ServiceBroker(options);
}

interface CallFigures {
	concurrency: number;
	callsPerSec: number;
	p50: number;
	p99: number;
	calls: number;
}

/** CALLS calls with `concurrency` in flight; the latency of every call is recorded. */
async function measureCalls(broker: ServiceBroker, concurrency: number, opts: Record<string, unknown> = {}) {
	const payload = { deviceId: 1, datapointId: 2, value: 21.5, ts: Date.now() };
	const lat = new Float64Array(CALLS);
	let next = 0;
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			for (let i = next++; i < CALLS; i = next++) {
				const t = performance.now();
				await broker.call("echo.echo", payload, opts);
				lat[i] = performance.now() - t;
			}
		})
	);
	const secs = (performance.now() - t0) / 1000;
	const sorted = Array.from(lat).sort((a, b) => a - b);
	return {
		concurrency,
		callsPerSec: Math.round(CALLS / secs),
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		calls: CALLS
	} satisfies CallFigures;
}

async function warmUp(broker: ServiceBroker, opts: Record<string, unknown> = {}) {
	// JIT, connections, registry.
	for (let i = 0; i < 1000; i++) await broker.call("echo.echo", { i }, opts);
}

function printCalls(label: string, f: CallFigures, cpu = "") {
	console.log(
		`${label.padEnd(26)} ${String(f.concurrency).padStart(4)} in flight ` +
			`${String(f.callsPerSec).padStart(8)} calls/s` +
			`   p50 ${f.p50.toFixed(3)} ms   p99 ${f.p99.toFixed(3)} ms${cpu}`
	);
}

async function measureEvents(label: string, broker: ServiceBroker, count: () => Promise<number>) {
	const before = await count();
	const n = CALLS * 5;
	const t0 = performance.now();
	for (let i = 0; i < n; i++) {
		broker.emit("bench.ping", { i });
		if (i % 1000 === 0) await new Promise(r => setImmediate(r));
	}
	const sent = performance.now();
	const deadline = Date.now() + 60_000;
	let got = 0;
	while (Date.now() < deadline) {
		got = (await count()) - before;
		if (got >= n) break;
		await new Promise(r => setTimeout(r, 20));
	}
	const secs = (performance.now() - t0) / 1000;
	console.log(
		`${label.padEnd(34)} ${Math.round(got / secs)
			.toString()
			.padStart(8)} events/s delivered (${got}/${n}; emitted at ${Math.round(n / ((sent - t0) / 1000))}/s)`
	);
}

async function main() {
	console.log(`fleetmesh bench/mesh — node ${process.version}, ${CALLS} calls per run, ` + `load ${loadavg()}\n`);

	// 1. One process, no transporter.
	const local = makeBroker({ NAMESPACE: "bench-local" });
	local.createService(EchoService);
	await local.start();
	await warmUp(local);
	for (const c of CONCURRENCIES) printCalls("in one process", await measureCalls(local, c));
	await measureEvents("events in one process", local, () => local.call("echo.pings") as Promise<number>);
	await local.stop();

	// 2. Two OS processes over NATS, once per serializer (both ends use the same one).
	for (const [i, serializer] of SERIALIZER_RUNS.entries()) {
		const ns = `bench-mesh-${process.pid}-${i}`;
		const remote = startNode(
			{
				NAMESPACE: ns,
				NODEID: "bench-a",
				TRANSPORTER: NATS,
				SERIALIZER: serializer,
				SERVICES: path.resolve(__dirname, "../../test/fixtures/mesh/echo.service.ts"),
				SERVICEDIR: path.resolve(__dirname, "../.."),
				DATA_DIR: dataDir("remote"),
				LOGLEVEL: "warn",
				...NODE_VARS,
				PORT: "0"
			},
			[],
			REMOTE_NODE_ARGS
		);
		const b = makeBroker({ NAMESPACE: ns, NODEID: "bench-b", TRANSPORTER: NATS, SERIALIZER: serializer });
		await b.start();
		// A remote node that exits (bad variable, DATA_DIR taken) fails the bench at once with its output.
		await Promise.race([
			b.waitForServices("echo", 120_000),
			remote.exited.then(code => {
				throw new Error(`the remote node exited (${code})`);
			})
		]).catch(err => {
			throw new Error(`${(err as Error).message}; remote node output:\n${remote.output().slice(-2000)}`);
		});
		await warmUp(b, { nodeID: "bench-a" });
		for (const c of CONCURRENCIES) {
			const here0 = cpuSeconds(process.pid);
			const there0 = cpuSeconds(remote.child.pid!);
			const f = await measureCalls(b, c, { nodeID: "bench-a" });
			const perCall = (s: number) => ((s / f.calls) * 1e6).toFixed(0);
			const cpu =
				`   CPU/call caller ${perCall(cpuSeconds(process.pid) - here0)} µs, remote ` +
				`${perCall(cpuSeconds(remote.child.pid!) - there0)} µs`;
			printCalls(`over NATS, ${serializer}`, f, cpu);
		}
		console.log(`${"".padEnd(26)} (load ${loadavg()})`);
		if (i === 0)
			await measureEvents(
				"events over NATS",
				b,
				() => b.call("echo.pings", {}, { nodeID: "bench-a" }) as Promise<number>
			);
		await b.stop();
		await remote.kill("SIGTERM");
	}
	const mem = process.memoryUsage();
	console.log(
		`\ncaller process RSS ${(mem.rss / 1048576).toFixed(0)} MiB, heap ${(mem.heapUsed / 1048576).toFixed(0)} MiB`
	);
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
