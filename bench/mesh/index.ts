/**
 * bench/mesh: action call throughput and latency in one process and between two processes
 * over NATS; event emit throughput. Prints figures; asserts nothing.
 *
 *   npm run bench:mesh            (needs NATS on 127.0.0.1:4222 for the two-process part)
 *   CALLS=20000 npm run bench:mesh
 *   SERIALIZERS=JSON,MsgPack npm run bench:mesh   (the NATS part once per serializer, with the
 *                                                 CPU µs per call of both processes from /proc)
 */
import fs from "node:fs";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../moleculer.config";
import { readEnv } from "../../services/shared/env";
import EchoService from "../../test/fixtures/mesh/echo.service";
import { startNode } from "../../test/helpers/node-process";

const CALLS = Number(process.env.CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const SERIALIZER_RUNS = (process.env.SERIALIZERS ?? "JSON").split(",");

/** utime+stime of a process in seconds, from /proc. */
function cpuSeconds(pid: number): number {
	const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
	const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	return (Number(f[11]) + Number(f[12])) / 100;
}

function percentile(sorted: number[], p: number) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function makeBroker(env: Record<string, string>) {
	return new ServiceBroker(buildBrokerOptions(readEnv({ LOGLEVEL: "warn", PORT: "0", ...env })));
}

async function measureCalls(label: string, broker: ServiceBroker, opts: Record<string, unknown> = {}) {
	const payload = { deviceId: 1, datapointId: 2, value: 21.5, ts: Date.now() };
	// Warm-up: JIT, connections, registry.
	for (let i = 0; i < 500; i++) await broker.call("echo.echo", payload, opts);

	// Latency: one call at a time.
	const n = Math.min(CALLS, 5000);
	const lat: number[] = [];
	for (let i = 0; i < n; i++) {
		const t = process.hrtime.bigint();
		await broker.call("echo.echo", payload, opts);
		lat.push(Number(process.hrtime.bigint() - t) / 1e6);
	}
	lat.sort((a, b) => a - b);

	// Throughput: CONCURRENCY calls in flight.
	let next = 0;
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (next++ < CALLS) await broker.call("echo.echo", payload, opts);
		})
	);
	const secs = (performance.now() - t0) / 1000;
	console.log(
		`${label.padEnd(34)} ${Math.round(CALLS / secs)
			.toString()
			.padStart(8)} calls/s (${CONCURRENCY} in flight)   ` +
			`p50 ${percentile(lat, 50).toFixed(3)} ms   p99 ${percentile(lat, 99).toFixed(3)} ms (sequential)`
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
	console.log(`fleetmesh bench/mesh — node ${process.version}, ${CALLS} calls per run\n`);

	// 1. One process, no transporter.
	const local = makeBroker({ NAMESPACE: "bench-local" });
	local.createService(EchoService);
	await local.start();
	await measureCalls("in one process", local);
	await measureEvents("events in one process", local, () => local.call("echo.pings") as Promise<number>);
	await local.stop();

	// 2. Two OS processes over NATS, once per serializer (both ends use the same one).
	for (const [i, serializer] of SERIALIZER_RUNS.entries()) {
		const ns = `bench-mesh-${process.pid}-${i}`;
		const remote = startNode({
			NAMESPACE: ns,
			NODEID: "bench-a",
			TRANSPORTER: NATS,
			SERIALIZER: serializer,
			SERVICES: path.resolve(__dirname, "../../test/fixtures/mesh/echo.service.ts"),
			SERVICEDIR: path.resolve(__dirname, "../.."),
			LOGLEVEL: "warn",
			PORT: "0"
		});
		const b = makeBroker({ NAMESPACE: ns, NODEID: "bench-b", TRANSPORTER: NATS, SERIALIZER: serializer });
		await b.start();
		await b.waitForServices("echo", 120_000).catch(err => {
			throw new Error(`${(err as Error).message}; remote node output:\n${remote.output().slice(-2000)}`);
		});
		const cpu0 = cpuSeconds(process.pid) + cpuSeconds(remote.child.pid!);
		await measureCalls(`over NATS, ${serializer}`, b, { nodeID: "bench-a" });
		const cpu = cpuSeconds(process.pid) + cpuSeconds(remote.child.pid!) - cpu0;
		console.log(
			`${"".padEnd(34)} CPU of both processes ${((cpu / (CALLS + Math.min(CALLS, 5000) + 500)) * 1e6).toFixed(0)} µs per call (load ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`
		);
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
