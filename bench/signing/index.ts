/**
 * bench/signing: what authentication costs at the gateway. Prints figures; asserts nothing.
 *
 *   npx tsx bench/signing/index.ts
 *   ONLY=me DURATION_S=10 …        only the cached-token run
 * DURATION_S=10 CONCURRENCY=64 DATABASE_URL=postgres://postgres@127.0.0.1:5432/fm_bench npx tsx bench/signing/index.ts
 *
 * The node under test (gateway + signing) runs in its own process, started as `npm start`
 * starts one; the load comes from this process over keep-alive HTTP connections.
 *  1. GET /health                 no token: the gateway's floor
 *  2. GET /api/users/me           a cached, valid token (the goal: > 5,000 requests/s)
 *  3. POST /api/users/verify-token the signing service checks a token (HMAC + revocation list)
 *  4. POST /api/users/auth        login latency at the chosen Argon2id cost, one at a time
 *  5. argon2id hash/verify        in this process, without HTTP
 */
import http from "node:http";
import path from "node:path";
import { ARGON2_OPTIONS, hashPassword, verifyPassword } from "../../services/signing/passwords";
import { tempDir } from "../../test/helpers/broker";
import { ROOT, startNode } from "../../test/helpers/node-process";
import { freePort } from "../../test/helpers/ports";

const DURATION_S = Number(process.env.DURATION_S ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const LOGINS = Number(process.env.LOGINS ?? 30);
const EMAIL = "bench-admin@example.com";
const PASSWORD = "bench-password-1234";

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function request(
	port: number,
	method: string,
	p: string,
	body?: string,
	token?: string
): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		const req = http.request(
			{
				host: "127.0.0.1",
				port,
				method,
				path: p,
				agent,
				headers: {
					...(body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}),
					...(token ? { Authorization: `Bearer ${token}` } : {})
				}
			},
			res => {
				let data = "";
				res.setEncoding("utf8");
				res.on("data", d => (data += d));
				res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
			}
		);
		req.on("error", reject);
		if (body) req.write(body);
		req.end();
	});
}

function percentile(sorted: number[], p: number) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function load(label: string, port: number, method: string, p: string, body?: string, token?: string) {
	// Warm-up.
	for (let i = 0; i < 200; i++) await request(port, method, p, body, token);
	let ok = 0;
	let other = 0;
	const lat: number[] = [];
	const end = Date.now() + DURATION_S * 1000;
	const t0 = process.hrtime.bigint();
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (Date.now() < end) {
				const t = process.hrtime.bigint();
				const r = await request(port, method, p, body, token);
				lat.push(Number(process.hrtime.bigint() - t) / 1e6);
				if (r.status === 200) ok++;
				else other++;
			}
		})
	);
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	lat.sort((a, b) => a - b);
	console.log(
		`${label.padEnd(34)} ${(ok / secs).toFixed(0).padStart(7)} req/s   p50 ` +
			`${percentile(lat, 50).toFixed(2)} ms   p99 ${percentile(lat, 99).toFixed(2)} ms   (${ok} ok, ` +
			`${other} not 200, ${CONCURRENCY} concurrent, ${secs.toFixed(1)} s)`
	);
}

async function main() {
	const port = await freePort();
	const node = startNode({
		SERVICES: [
			path.join(ROOT, "services/gateway/gateway.service.ts"),
			path.join(ROOT, "services/signing/signing.service.ts")
		].join(","),
		DATA_DIR: tempDir("bench-signing"),
		PORT: String(port),
		NODEID: "bench-signing",
		SIMULATE: "0",
		LOGLEVEL: "warn",
		ADMIN_EMAIL: EMAIL,
		ADMIN_PASSWORD: PASSWORD,
		AUTH_RATE_LIMIT: "1000000",
		AUTH_MAX_FAILURES: "1000000",
		...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {})
	});
	try {
		const deadline = Date.now() + 60_000;
		for (;;) {
			const r = await request(port, "GET", "/api/certs/ca").catch(() => null);
			if (r?.status === 200) break;
			if (Date.now() > deadline) throw new Error(`node did not come up:\n${node.output().slice(-3000)}`);
			await new Promise(r => setTimeout(r, 250));
		}
		const login = JSON.stringify({ email: EMAIL, password: PASSWORD });
		const token = JSON.parse((await request(port, "POST", "/api/users/auth", login)).body).access_token as string;
		console.log(
			`bench/signing: node in its own process ` +
				`(${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}), ${CONCURRENCY} concurrent keep-alive ` +
				`connections, ${DURATION_S} s per run, node ${process.version}`
		);
		const only = process.env.ONLY;
		if (!only || only === "health") await load("GET /health (no auth)", port, "GET", "/health");
		if (!only || only === "me")
			await load("GET /api/users/me (cached token)", port, "GET", "/api/users/me", undefined, token);
		if (!only || only === "verify")
			await load(
				"POST /api/users/verify-token",
				port,
				"POST",
				"/api/users/verify-token",
				JSON.stringify({ token })
			);
		if (only) return;

		const lat: number[] = [];
		for (let i = 0; i < LOGINS; i++) {
			const t = process.hrtime.bigint();
			const r = await request(port, "POST", "/api/users/auth", login);
			if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.body}`);
			lat.push(Number(process.hrtime.bigint() - t) / 1e6);
		}
		lat.sort((a, b) => a - b);
		console.log(
			`POST /api/users/auth (login)      p50 ${percentile(lat, 50).toFixed(1)} ms   p95 ` +
				`${percentile(lat, 95).toFixed(1)} ms   max ${lat[lat.length - 1].toFixed(1)} ms   (${LOGINS} ` +
				`sequential logins)`
		);

		const h: number[] = [];
		const v: number[] = [];
		const hash = await hashPassword(PASSWORD);
		for (let i = 0; i < 10; i++) {
			let t = process.hrtime.bigint();
			await hashPassword(PASSWORD);
			h.push(Number(process.hrtime.bigint() - t) / 1e6);
			t = process.hrtime.bigint();
			await verifyPassword(hash, PASSWORD);
			v.push(Number(process.hrtime.bigint() - t) / 1e6);
		}
		h.sort((a, b) => a - b);
		v.sort((a, b) => a - b);
		console.log(
			`argon2id m=${ARGON2_OPTIONS.memoryCost} KiB t=${ARGON2_OPTIONS.timeCost} ` +
				`p=${ARGON2_OPTIONS.parallelism}: hash p50 ${percentile(h, 50).toFixed(1)} ms, verify p50 ` +
				`${percentile(v, 50).toFixed(1)} ms (in-process)`
		);
	} finally {
		agent.destroy();
		await node.kill("SIGTERM");
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
