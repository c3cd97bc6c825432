/**
 * bench/builds: prints figures, asserts nothing.
 *
 *  1. prepare: requests/s and p99 of POST /api/v1/build/prepare through the gateway on one node.
 *  2. cache hit: requests/s and p99 of POST /api/v1/build for a request already built
 *     (BullMQ lookup in Redis, statistics batched into PostgreSQL).
 *  3. queue throughput: jobs/s through the BullMQ queue on Redis with the simulated builder at
 *     0 ms build time (the whole build flow: make info, manifest, image, store, sha256), with
 *     1, 2 and 4 workers (in this process: on a 2-core machine the flow's CPU is the limit).
 *
 *   npm run bench:builds            (needs Redis on 127.0.0.1:6379 and PostgreSQL on :5432)
 *   SECONDS=5 CONCURRENCY=32 JOBS=200 npm run bench:builds
 */
import http from "node:http";
import os from "node:os";
import type { ServiceBroker } from "moleculer";
import BuildsPrepareService from "../../services/builds-prepare/builds-prepare.service";
import { runBuild } from "../../services/builds-worker/build-flow";
import { SimulatedBuilder } from "../../services/builds-worker/builders/simulated";
import BuildsService from "../../services/builds/builds.service";
import BuildsWorkerService from "../../services/builds-worker/builds-worker.service";
import GatewayService from "../../services/gateway/gateway.service";
import { requestHash } from "../../services/shared/asu/hash";
import { parseOrdered, stringifyOrdered } from "../../services/shared/asu/ordered-json";
import { BullBuildQueue } from "../../services/shared/asu/queue";
import { parseBuildRequest } from "../../services/shared/asu/request";
import { metadataFor } from "../../services/shared/asu/sources";
import type { BuildRequest } from "../../services/shared/contracts/builds";
import { readEnv } from "../../services/shared/env";
import { createTestBroker, tempDir, uniqueNamespace } from "../../test/helpers/broker";
import { deleteRedisKeys } from "../../test/helpers/cleanup";
import { createTestDatabase } from "../../test/helpers/db";
import { REDIS_URL } from "../../test/helpers/servers";

const SECONDS = Number(process.env.SECONDS ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const JOBS = Number(process.env.JOBS ?? 200);
const C7 = { version: "24.10.2", target: "ath79/generic", profile: "tplink,archer-c7-v5" };
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function post(base: string, path: string, body: string | null): Promise<number> {
	return new Promise((resolve, reject) => {
		const headers =
			body == null ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
		const req = http.request(base + path, { method: body == null ? "GET" : "POST", agent, headers }, res => {
			res.resume();
			res.on("end", () => resolve(res.statusCode ?? 0));
		});
		req.on("error", reject);
		req.end(body ?? undefined);
	});
}

/** CONCURRENCY clients sending the same request for SECONDS: requests/s and latencies. */
async function load(base: string, path: string, body: string | null, expect: number) {
	const lat: number[] = [];
	let bad = 0;
	const until = Date.now() + SECONDS * 1000;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (Date.now() < until) {
				const t = performance.now();
				const status = await post(base, path, body);
				lat.push(performance.now() - t);
				if (status !== expect) bad++;
			}
		})
	);
	lat.sort((a, b) => a - b);
	return { rps: lat.length / SECONDS, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, bad };
}

async function httpParts() {
	const db = await createTestDatabase("bench_builds");
	const namespace = uniqueNamespace("bench-builds");
	const broker: ServiceBroker = createTestBroker({
		namespace,
		env: {
			REDIS_URL,
			DATABASE_URL: db.url,
			ASU_BUILDER: "simulated",
			ASU_RATE_LIMIT: "0",
			ASU_SIM_IMAGE_KIB: "4",
			LOGLEVEL: "warn",
			METRICS: "1"
		},
		services: [GatewayService, BuildsService, BuildsPrepareService, BuildsWorkerService]
	});
	await broker.start();
	const gw = broker.getLocalService("gateway") as unknown as { server: http.Server };
	const base = `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
	try {
		await load(base, "/health", null, 200);
		const f = await load(base, "/health", null, 200);
		console.log(
			`gateway floor ${f.rps.toFixed(0).padStart(5)} req/s  p50 ${f.p50.toFixed(1)} ms  p99 ` +
				`${f.p99.toFixed(1)} ms  (GET /health, the same gateway, for comparison)`
		);
		const prepareBody = JSON.stringify({
			...C7,
			packages: ["auc", "tmux", "luci-i18n-opkg-de"],
			diff_packages: true
		});
		await load(base, "/api/v1/build/prepare", prepareBody, 200);
		const p = await load(base, "/api/v1/build/prepare", prepareBody, 200);
		console.log(
			`prepare      ${p.rps.toFixed(0).padStart(6)} req/s  p50 ${p.p50.toFixed(1)} ms  p99 ` +
				`${p.p99.toFixed(1)} ms  (${p.n} requests, ${CONCURRENCY} clients, ${p.bad} not 200)`
		);

		const buildBody = JSON.stringify({ ...C7, packages: ["tmux"] });
		await post(base, "/api/v1/build", buildBody);
		for (let i = 0; i < 200 && (await post(base, "/api/v1/build", buildBody)) !== 200; i++)
			await new Promise(r => setTimeout(r, 100));
		const c = await load(base, "/api/v1/build", buildBody, 200);
		console.log(
			`cache hit    ${c.rps.toFixed(0).padStart(6)} req/s  p50 ${c.p50.toFixed(1)} ms  p99 ` +
				`${c.p99.toFixed(1)} ms  (${c.n} requests, ${CONCURRENCY} clients, ${c.bad} not 200)`
		);
	} finally {
		await broker.stop();
		await deleteRedisKeys(namespace);
		await db.drop();
	}
}

async function queuePart() {
	const env = readEnv({ ASU_BUILDER: "simulated", DATA_DIR: tempDir("bench-queue") }).builds;
	const meta = metadataFor(env);
	const builder = new SimulatedBuilder(meta, { imageKib: 1, buildMs: 0 });
	const storeDir = tempDir("bench-store");
	for (const workers of [1, 2, 4]) {
		const namespace = uniqueNamespace(`bench-q${workers}`);
		const queue = new BullBuildQueue(REDIS_URL, `${namespace}-bull`);
		let done = 0;
		let failed = 0;
		let finishedAll: () => void = () => undefined;
		const all = new Promise<void>(r => (finishedAll = r));
		const handles = Array.from({ length: workers }, () =>
			queue.work(
				job =>
					runBuild({
						request: parseOrdered(job.data.request) as BuildRequest,
						requestHash: job.id,
						builder,
						storeDir,
						signal: job.signal,
						setMeta: m => job.setMeta(m)
					}),
				{
					concurrency: 1,
					timeoutMs: 60_000,
					lockMs: 30_000,
					onFinished: (_id, _d, o) => {
						if (o.ok) done++;
						else failed++;
						if (done + failed === JOBS) finishedAll();
					}
				}
			)
		);
		const t0 = performance.now();
		for (let i = 0; i < JOBS; i++) {
			const p = parseBuildRequest({
				...C7,
				packages: ["tmux"],
				rootfs_size_mb: 100 + (i % 900),
				client: `bench-${workers}-${i}`
			});
			if (!p.ok) throw new Error("bad request");
			await queue.add(requestHash(p.request), {
				request: stringifyOrdered(p.request),
				resultTtlS: 600,
				failureTtlS: 600,
				client: "bench"
			});
		}
		await all;
		const s = (performance.now() - t0) / 1000;
		console.log(
			`queue ${workers} worker${workers > 1 ? "s" : " "} ${(JOBS / s).toFixed(0).padStart(6)} ` +
				`jobs/s  (${JOBS} builds in ${s.toFixed(1)} s, ${failed} failed)`
		);
		for (const h of handles) await h.close();
		await queue.close();
		await deleteRedisKeys(namespace);
	}
}

async function main() {
	console.log(
		`bench/builds on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "cpu"}), Node ` +
			`${process.version}, load ${os.loadavg()[0].toFixed(1)}`
	);
	await httpParts();
	await queuePart();
	agent.destroy();
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
