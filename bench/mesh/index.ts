/**
 * bench/mesh: action call throughput and latency in one process and between two processes
 * over NATS; event emit throughput. Prints figures; asserts nothing.
 *
 *   npm run bench:mesh            (needs NATS on 127.0.0.1:4222 for the two-process part)
 *   CALLS=20000 npm run bench:mesh
 */
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { buildBrokerOptions } from "../../moleculer.config";
import { readEnv } from "../../services/shared/env";
import EchoService from "../../test/fixtures/mesh/echo.service";
import { startNode } from "../../test/helpers/node-process";

const CALLS = Number(process.env.CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

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
		`${label.padEnd(34)} ${Math.round(CALLS / secs).toString().padStart(8)} calls/s (${CONCURRENCY} in flight)   ` +
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
		`${label.padEnd(34)} ${Math.round(got / secs).toString().padStart(8)} events/s delivered (${got}/${n}; emitted at ${Math.round(n / ((sent - t0) / 1000))}/s)`
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

	// 2. Two OS processes over NATS.
	const ns = `bench-mesh-${process.pid}`;
	const remote = startNode({
		NAMESPACE: ns,
		NODEID: "bench-a",
		TRANSPORTER: NATS,
		SERVICES: path.resolve(__dirname, "../../test/fixtures/mesh/echo.service.ts"),
		SERVICEDIR: path.resolve(__dirname, "../.."),
		LOGLEVEL: "warn",
		PORT: "0"
	});
	const b = makeBroker({ NAMESPACE: ns, NODEID: "bench-b", TRANSPORTER: NATS });
	await b.start();
	await b.waitForServices("echo", 30_000);
	await measureCalls("two processes over NATS", b, { nodeID: "bench-a" });
	await measureEvents("events over NATS", b, () => b.call("echo.pings", {}, { nodeID: "bench-a" }) as Promise<number>);
	const mem = process.memoryUsage();
	console.log(`\ncaller process RSS ${(mem.rss / 1048576).toFixed(0)} MiB, heap ${(mem.heapUsed / 1048576).toFixed(0)} MiB`);
	await b.stop();
	await remote.kill("SIGTERM");
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
