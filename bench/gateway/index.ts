/**
 * bench/gateway: GET /api/monitoring/data through one gateway, at 64, 256 and 1,000 concurrent
 * connections (autocannon). Prints req/s, p50/p99 and every status other than 200; asserts
 * nothing.
 *
 *   npm run bench:gateway                      (needs PostgreSQL on 127.0.0.1:5432)
 *   CONNECTIONS=64,256,1000 SECONDS=10 npm run bench:gateway
 *   GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" CONNECTIONS=64 npm run bench:gateway   (profile the node)
 *
 * The node runs as `npm start` runs it (compiled dist/, SERVICES=signing,monitoring,gateway,
 * no transporter) on a database of its own, seeded with 20 devices × 3 datapoints × 2,000
 * readings; the request is an administrator's first page (100 readings, newest first) of one
 * device, cycling over the devices. The node's CPU seconds per 1,000 requests come from /proc.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { Client } from "pg";
import { startCompiledNode, ROOT } from "../../test/helpers/node-process";
import { freePort } from "../../test/helpers/ports";
import { PG_ADMIN_URL } from "../../test/helpers/servers";

const CONNECTIONS = (process.env.CONNECTIONS ?? "64,256,1000").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 10);
const DEVICES = 20;
const READINGS = 2000;
const ADMIN = { email: "bench@example.com", password: "Load-test-secret-42" };

function cpuSeconds(pid: number): number {
	const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
	return (Number(f[11]) + Number(f[12])) / 100;
}
const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function admin(sql: string) {
	const c = new Client({ connectionString: PG_ADMIN_URL });
	await c.connect();
	try {
		await c.query(sql);
	} finally {
		await c.end();
	}
}

async function seed(url: string): Promise<number[]> {
	const c = new Client({ connectionString: url });
	await c.connect();
	try {
		const ids: number[] = [];
		for (let d = 0; d < DEVICES; d++) {
			const {
				rows: [dev]
			} = await c.query("INSERT INTO devices (uid, name, status) VALUES ($1, $2, 'streaming') RETURNING id", [
				`bench-gw-${d}`,
				`Bench ${d}`
			]);
			ids.push(Number(dev.id));
			for (const label of ["temperature", "humidity", "light"]) {
				const {
					rows: [dp]
				} = await c.query("INSERT INTO datapoints (device_id, label, unit) VALUES ($1, $2, '') RETURNING id", [
					dev.id,
					label
				]);
				await c.query(
					`INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
					 SELECT now() - i * interval '1 second', $1, $2, random() * 100 FROM generate_series(1, $3) i`,
					[dev.id, dp.id, READINGS]
				);
			}
		}
		await c.query("ANALYZE");
		return ids;
	} finally {
		await c.end();
	}
}

async function waitForHttp(url: string, timeoutMs: number) {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		const ok = await fetch(url).then(
			r => r.status === 200,
			() => false
		);
		if (ok) return;
		await new Promise(r => setTimeout(r, 250));
	}
	throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

async function main() {
	execFileSync(process.execPath, [path.join(ROOT, "scripts/compile.mjs")], { stdio: "inherit" });
	const db = `bench_gateway_${process.pid}`;
	await admin(`CREATE DATABASE ${db}`);
	const dbUrl = new URL(PG_ADMIN_URL);
	dbUrl.pathname = `/${db}`;
	const port = await freePort();
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetmesh-bench-gateway-"));
	const node = startCompiledNode(
		{
			NAMESPACE: `bench-gateway-${process.pid}`,
			SERVICES: "signing,monitoring,gateway",
			DATABASE_URL: dbUrl.toString(),
			DATA_DIR: dataDir,
			PORT: String(port),
			HOST: "127.0.0.1",
			ADMIN_EMAIL: ADMIN.email,
			ADMIN_PASSWORD: ADMIN.password,
			SIMULATE: "0",
			LOGLEVEL: "warn"
		},
		(process.env.GATEWAY_NODE_ARGS ?? "").split(" ").filter(Boolean)
	);
	const base = `http://127.0.0.1:${port}`;
	try {
		await Promise.race([
			waitForHttp(`${base}/ready`, 60_000),
			node.exited.then(code => {
				throw new Error(`the node exited (${code}):\n${node.output().slice(-2000)}`);
			})
		]);
		const ids = await seed(dbUrl.toString());
		const login = await fetch(`${base}/api/users/auth`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify(ADMIN)
		});
		const token = ((await login.json()) as { access_token: string }).access_token;
		const headers = { Authorization: `Bearer ${token}` };
		const requests = ids.map(id => ({
			method: "GET" as const,
			path: `/api/monitoring/data?device=${id}&limit=100`
		}));
		const check = await fetch(`${base}${requests[0].path}`, { headers });
		if (check.status !== 200) throw new Error(`GET ${requests[0].path}: ${check.status} ${await check.text()}`);

		const fds = execFileSync("sh", ["-c", "ulimit -n"]).toString().trim();
		console.log(
			`fleetmesh bench/gateway — node ${process.version}, ${SECONDS} s per run, ` +
				`${DEVICES} devices × 3 datapoints × ${READINGS} readings, ulimit -n ${fds}\n`
		);
		// Warm-up: JIT, pool connections, the viewer's cached state.
		await autocannon({ url: base, connections: 16, duration: 2, headers, requests });
		for (const connections of CONNECTIONS) {
			const cpu0 = cpuSeconds(node.child.pid!);
			const r = await autocannon({ url: base, connections, duration: SECONDS, headers, requests, timeout: 30 });
			const cpu = cpuSeconds(node.child.pid!) - cpu0;
			const statuses = Object.entries(r.statusCodeStats ?? {})
				.filter(([code]) => code !== "200")
				.map(([code, s]) => `${code}: ${(s as { count: number }).count}`);
			const total = r.requests.total;
			const rate = Math.round(r.requests.average).toString().padStart(6);
			console.log(
				`${String(connections).padStart(5)} connections  ${rate} req/s` +
					`   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   max ${r.latency.max} ms` +
					`   ${total} requests, non-200 ${statuses.length ? statuses.join(", ") : "none"}` +
					`, errors ${r.errors}, timeouts ${r.timeouts}` +
					`   node CPU ${((cpu / Math.max(1, total)) * 1000).toFixed(2)} s per 1,000   (load ${loadavg()})`
			);
		}
		const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${node.child.pid}/status`, "utf8"));
		console.log(`\nnode RSS ${rss ? Math.round(Number(rss[1]) / 1024) : "?"} MB after the runs`);
	} finally {
		await node.kill("SIGTERM");
		await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
