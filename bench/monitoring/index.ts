/**
 * bench/monitoring: prints figures, asserts nothing.
 *
 *  1. Stats query latency: p50/p99 of a one-hour `monitoring.stats` query (summary, and with
 *     1-minute buckets) over a decoded_data table of ROWS rows (default 10 million) in real
 *     PostgreSQL. The table is kept in the database `fm_bench_monitoring` and reused when it
 *     already holds ROWS rows (FRESH=1 rebuilds it).
 *  2. Live fan-out: readings per second delivered to CLIENTS (default 500) Socket.IO clients
 *     through the real gateway (auth, monitoring.join, per-room throttle, live.push relay), and
 *     the reading → browser latency.
 *
 *   npm run bench:monitoring                 (needs PostgreSQL on 127.0.0.1:5432)
 *   ROWS=1000000 CLIENTS=100 SECONDS=5 npm run bench:monitoring
 *   PART=stats | PART=live                   (one part only); HZ=50 reports per device per second
 */
import os from "node:os";
import { Client } from "pg";
import type { ServiceBroker } from "moleculer";
import { io, type Socket } from "socket.io-client";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { buildBucketQuery, buildSummaryQuery } from "../../services/monitoring/queries";
import GatewayService from "../../services/gateway/gateway.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import SigningService from "../../services/signing/signing.service";
import { createTestBroker, tempDir, uniqueNamespace } from "../../test/helpers/broker";

const PG = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const DB_NAME = "fm_bench_monitoring";
const ROWS = Number(process.env.ROWS ?? 10_000_000);
const DEVICES = Number(process.env.DEVICES ?? 20);
const DATAPOINTS = 5;
const QUERIES = Number(process.env.QUERIES ?? 100);
const CLIENTS = Number(process.env.CLIENTS ?? 500);
const SECONDS = Number(process.env.SECONDS ?? 10);
const PART = process.env.PART ?? "all";
/** How often each device reports its datapoints in the live part. */
const HZ = Number(process.env.HZ ?? 50);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function ensureDatabase(): Promise<Database> {
	const admin = new Client({ connectionString: `${PG}/postgres` });
	await admin.connect();
	if (process.env.FRESH === "1") await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
	const exists = (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [DB_NAME])).rowCount;
	if (!exists) await admin.query(`CREATE DATABASE ${DB_NAME}`);
	await admin.end();
	const db = await openDatabase({ databaseUrl: `${PG}/${DB_NAME}`, dataDir: tempDir("bench-mon") });
	await migrate(db);
	return db;
}

/** DEVICES devices × 5 datapoints, one reading per series per second, ending now. */
async function fill(db: Database): Promise<{ from: number; to: number; devices: number[] }> {
	const [{ n }] = await db.query("SELECT count(*)::bigint AS n FROM decoded_data");
	const devices = (await db.query("SELECT id FROM devices WHERE uid LIKE 'bench-%' ORDER BY id")).map(r =>
		Number(r.id)
	);
	const perSeries = Math.ceil(ROWS / (DEVICES * DATAPOINTS));
	if (Number(n) >= ROWS && devices.length === DEVICES) {
		const [r] = await db.query(
			"SELECT extract(epoch from min(timestamp)) * 1000 AS a, extract(epoch from max(timestamp)) * " +
				"1000 AS b FROM decoded_data"
		);
		console.log(`stats: reusing ${Number(n).toLocaleString()} rows in ${DB_NAME} (FRESH=1 rebuilds)`);
		return { from: Number(r.a), to: Number(r.b), devices };
	}
	await db.query("TRUNCATE decoded_data");
	await db.query("DELETE FROM devices WHERE uid LIKE 'bench-%'");
	const ids: number[] = [];
	for (let d = 0; d < DEVICES; d++) {
		const [dev] = await db.query(
			"INSERT INTO devices (uid, name, status, owner) VALUES ($1, $2, 'streaming', NULL) RETURNING id",
			[`bench-${d}`, `Bench device ${d}`]
		);
		ids.push(Number(dev.id));
		for (const label of ["temperature", "humidity", "pressure", "voltage", "current"].slice(0, DATAPOINTS)) {
			await db.query("INSERT INTO datapoints (device_id, label, unit) VALUES ($1, $2, 'u')", [dev.id, label]);
		}
	}
	const end = Math.floor(Date.now() / 1000) * 1000;
	const start = end - (perSeries - 1) * 1000;
	console.log(
		`stats: inserting ${(perSeries * DEVICES * DATAPOINTS).toLocaleString()} rows (${DEVICES} devices ` +
			`× ${DATAPOINTS} datapoints × ${perSeries.toLocaleString()} s) …`
	);
	const t = Date.now();
	// An hour of the whole fleet per statement, in time order: the table's physical order is the
	// one the pipeline sink's appends produce (what the BRIN index on time relies on).
	for (let s0 = 0; s0 < perSeries; s0 += 3600) {
		await db.query(
			`INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
			 SELECT to_timestamp($1::float8 / 1000) + (s * interval '1 second'), dp.device_id, dp.id, 20 + 5 * sin(s /
			 300.0) + dp.id
			 FROM generate_series($2::int, least($2::int + 3599, $3::int - 1)) AS s
			 CROSS JOIN (SELECT id, device_id FROM datapoints WHERE device_id = ANY($4::int[])) dp
			 ORDER BY 1`,
			[start, s0, perSeries, ids]
		);
	}
	// What autovacuum does on a live table: summarise the BRIN ranges, update statistics.
	await db.query("VACUUM ANALYZE decoded_data");
	console.log(`stats: filled in ${((Date.now() - t) / 1000).toFixed(0)} s`);
	return { from: start, to: end, devices: ids };
}

async function benchStats(): Promise<void> {
	const db = await ensureDatabase();
	try {
		const { from, to, devices } = await fill(db);
		const [{ n }] = await db.query("SELECT count(*)::bigint AS n FROM decoded_data");
		const [{ size }] = await db.query("SELECT pg_size_pretty(pg_total_relation_size('decoded_data')) AS size");
		console.log(
			`stats: decoded_data holds ${Number(n).toLocaleString()} rows (${size}), ` +
				`${new Date(from).toISOString()} … ${new Date(to).toISOString()}`
		);
		const cases: {
			name: string;
			build: (w: { from: Date; to: Date }, dev: number) => { text: string; values: unknown[] }[];
		}[] = [
			{
				name: "one device, 1 h, summary",
				build: (w, dev) => [buildSummaryQuery({ window: w, deviceId: dev, bucketFn: "date_bin" })]
			},
			{
				name: "one device, 1 h, summary + 1-min buckets",
				build: (w, dev) => [
					buildSummaryQuery({ window: w, deviceId: dev, bucketFn: "date_bin" }),
					buildBucketQuery({ window: w, deviceId: dev, bucketFn: "date_bin", bucketMs: 60_000 })
				]
			},
			{ name: "whole fleet, 1 h, summary", build: w => [buildSummaryQuery({ window: w, bucketFn: "date_bin" })] }
		];
		for (const c of cases) {
			const lat: number[] = [];
			for (let i = 0; i < QUERIES + 5; i++) {
				// A random hour inside the data, a random device: no two queries hit the same cache lines on purpose.
				const start = from + Math.random() * Math.max(0, to - from - 3600_000);
				const w = { from: new Date(start), to: new Date(start + 3600_000) };
				const dev = devices[Math.floor(Math.random() * devices.length)];
				const t = process.hrtime.bigint();
				for (const q of c.build(w, dev)) await db.query(q.text, q.values);
				if (i >= 5) lat.push(Number(process.hrtime.bigint() - t) / 1e6);
			}
			lat.sort((a, b) => a - b);
			console.log(`stats: ${c.name}: p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))} (${QUERIES} queries)`);
		}
	} finally {
		await db.close();
	}
}

async function benchLive(): Promise<void> {
	const pgAdmin = new Client({ connectionString: `${PG}/postgres` });
	await pgAdmin.connect();
	const dbName = `fm_bench_live_${process.pid}`;
	await pgAdmin.query(`CREATE DATABASE ${dbName}`);
	const email = "ops@example.com";
	const password = "Bench-walrus-2931";
	let broker: ServiceBroker | null = null;
	const sockets: Socket[] = [];
	try {
		broker = createTestBroker({
			namespace: uniqueNamespace("bench-live"),
			env: {
				DATABASE_URL: `${PG}/${dbName}`,
				ADMIN_EMAIL: email,
				ADMIN_PASSWORD: password,
				AUTH_RATE_LIMIT: "1000000",
				LOGLEVEL: "error"
			},
			services: [SigningService, GatewayService, MonitoringService],
			logLevel: "error"
		});
		await broker.start();
		const db = (broker.getLocalService("monitoring") as unknown as { db: Database }).db;
		const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
		const url = `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
		let token = "";
		for (let i = 0; i < 100 && !token; i++) {
			const res = await fetch(`${url}/api/users/auth`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ email, password })
			});
			if (res.ok) token = ((await res.json()) as { access_token: string }).access_token;
			else await new Promise(r => setTimeout(r, 100));
		}
		// 10 devices, 3 datapoints each; clients spread evenly over the device rooms.
		const devs: { id: number; dps: number[] }[] = [];
		for (let d = 0; d < 10; d++) {
			const [dev] = await db.query(
				"INSERT INTO devices (uid, name, status) VALUES ($1, $1, 'streaming') RETURNING id",
				[`live-${d}`]
			);
			const dps: number[] = [];
			for (const label of ["a", "b", "c"])
				dps.push(
					Number(
						(
							await db.query("INSERT INTO datapoints (device_id, label) VALUES ($1, $2) RETURNING id", [
								dev.id,
								label
							])
						)[0].id
					)
				);
			devs.push({ id: Number(dev.id), dps });
		}
		let received = 0;
		let messages = 0;
		const latency: number[] = [];
		const t0 = Date.now();
		for (let i = 0; i < CLIENTS; i++) {
			const s = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
			await new Promise<void>((resolve, reject) => {
				s.once("connect", () => resolve());
				s.once("connect_error", reject);
			});
			const dev = devs[i % devs.length];
			await new Promise<void>((resolve, reject) =>
				s.emit("call", "monitoring.join", { rooms: [`device:${dev.id}`] }, (err: unknown) =>
					err ? reject(err) : resolve()
				)
			);
			s.on("readings", (m: { readings: { ts: number }[] }) => {
				messages++;
				received += m.readings.length;
				const now = Date.now();
				// The newest reading of the message: its age is what a user sees as lag.
				if (latency.length < 200_000) latency.push(now - m.readings[m.readings.length - 1].ts);
			});
			sockets.push(s);
		}
		console.log(
			`live: ${CLIENTS} clients connected and joined in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
				`(${devs.length} device rooms)`
		);

		// Each device reports its 3 datapoints HZ times a second (a timer: the real rate is printed).
		let sent = 0;
		received = 0;
		messages = 0;
		latency.length = 0;
		const start = Date.now();
		while (Date.now() - start < SECONDS * 1000) {
			const ts = Date.now();
			const readings = devs.flatMap(d =>
				d.dps.map(dp => ({ deviceId: d.id, datapointId: dp, value: Math.random() * 100, ts }))
			);
			await broker.sendToChannel("telemetry.readings", { readings });
			sent += readings.length;
			await new Promise(r => setTimeout(r, 1000 / HZ));
		}
		const elapsed = (Date.now() - start) / 1000;
		// Let the last throttle intervals drain before counting.
		await new Promise(r => setTimeout(r, 1000));
		latency.sort((a, b) => a - b);
		const perClientIdeal = (sent / devs.length) * 1; // every reading of its device, if nothing were coalesced
		console.log(
			`live: sent ${sent.toLocaleString()} readings in ${elapsed.toFixed(1)} s ` +
				`(${Math.round(sent / elapsed).toLocaleString()}/s into monitoring)`
		);
		console.log(
			`live: delivered ${received.toLocaleString()} readings in ${messages.toLocaleString()} ` +
				`messages to ${CLIENTS} clients: ` +
				(`${Math.round(received / elapsed).toLocaleString()} readings/s, ` +
					`${Math.round(messages / elapsed).toLocaleString()} messages/s `) +
				(`(${(messages / elapsed / CLIENTS).toFixed(1)} messages/s per client; ` +
					`${((received / CLIENTS / perClientIdeal) * 100).toFixed(0)}% of each room's readings, the ` +
					`rest coalesced by the throttle)`)
		);
		if (latency.length)
			console.log(`live: reading → client latency p50 ${ms(pct(latency, 50))}, p99 ${ms(pct(latency, 99))}`);
	} finally {
		for (const s of sockets) s.close();
		await broker?.stop();
		await pgAdmin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
		await pgAdmin.end();
	}
}

(async () => {
	console.log(`bench/monitoring on ${os.cpus().length} CPUs, node ${process.version}`);
	if (PART === "all" || PART === "stats") await benchStats();
	if (PART === "all" || PART === "live") await benchLive();
	process.exit(0);
})().catch(err => {
	console.error(err);
	process.exit(1);
});
