/**
 * bench/monitoring: prints figures, asserts nothing.
 *
 *  1. Stats query latency (p50/p99) over a decoded_data table of --rows rows (default 10
 *     million) in real PostgreSQL, in a database of its own created for the run and dropped
 *     after it: the one-hour stats of one device, 24 hours in 1-minute buckets, the dashboard's
 *     own 24 h and 7 d history queries (5- and 30-minute buckets, summary alongside, as the
 *     stats action runs them) and a whole-fleet hour. Each query is timed twice: straight from
 *     the raw rows (the queries before the per-minute rollup, "raw") and with whole minutes
 *     from decoded_data_1m ("rollup", what the service runs).
 *     Layout: 20 devices × 5 datapoints over 7 days + 1 hour ending now; the device the
 *     queries ask about reports every second (3 million rows of the 10), the 19 others share
 *     the rest evenly. Seeded with generate_series in time order (the physical order the sink's
 *     appends give), indexes built after the load; the rollup comes from its own trigger.
 *  2. Time to first chart of the dashboard: a gateway over the seeded data, headless Chromium
 *     (/usr/bin/chromium, else @sparticuz/chromium, as the browser tests find it) opening the
 *     device page of the 1 Hz device: cold (a new browser profile) and warm (reload), until the
 *     history chart is drawn (default range 1 h, raw readings), then the 24 h and 7 d ranges.
 *  3. Write cost of the rollup: the sink's insert with the rollup trigger and without it.
 *  4. Live fan-out: readings per second delivered to CLIENTS (default 500) Socket.IO clients
 *     through the real gateway (auth, monitoring.join, per-room throttle, live.push relay), and
 *     the reading → browser latency.
 *
 *   npm run bench:monitoring                 (needs PostgreSQL on 127.0.0.1:5432)
 *   npm run bench:monitoring -- --rows 1000000 --part stats,chart
 *   --part stats,chart,write,live (default all); --queries N (default 100 per case, each case at most
 *   QUERY_BUDGET_S = 10 s, at least 10); CLIENTS=100 SECONDS=5 HZ=50 for the live part
 */
import fs from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { Client } from "pg";
import type { ServiceBroker } from "moleculer";
import { io, type Socket } from "socket.io-client";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { insertReadings } from "../../services/shared/pipeline/storage";
import { buildBucketQuery, buildSummaryQuery, type StatsFilter } from "../../services/monitoring/queries";
import GatewayService from "../../services/gateway/gateway.service";
import ManagerService from "../../services/manager/manager.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import SigningService from "../../services/signing/signing.service";
import { buildDashboard } from "../../services/gateway/dashboard/build";
import { createTestBroker, tempDir, uniqueNamespace } from "../../test/helpers/broker";
import { findChromium } from "../../test/helpers/chromium";
import { signIn } from "../lib/login";

const { values: args } = parseArgs({
	options: {
		rows: { type: "string" },
		queries: { type: "string" },
		part: { type: "string" }
	}
});
const PG = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const ROWS = Number(args.rows ?? process.env.ROWS ?? 10_000_000);
const DEVICES = 20;
const DATAPOINTS = 5;
const SPAN_S = 7 * 86_400 + 3600;
const QUERIES = Number(args.queries ?? process.env.QUERIES ?? 100);
const QUERY_BUDGET_MS = Number(process.env.QUERY_BUDGET_S ?? 10) * 1000;
const CLIENTS = Number(process.env.CLIENTS ?? 500);
const SECONDS = Number(process.env.SECONDS ?? 10);
const PARTS = new Set((args.part ?? process.env.PART ?? "stats,chart,write,live").split(",").map(x => x.trim()));
if (PARTS.has("all")) for (const x of ["stats", "chart", "write", "live"]) PARTS.add(x);
/** How often each device reports its datapoints in the live part. */
const HZ = Number(process.env.HZ ?? 50);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (n: number) => `${n.toFixed(1)} ms`;

interface Seeded {
	db: Database;
	url: string;
	drop(): Promise<void>;
	from: number;
	to: number;
	/** The device reporting every second: the one the dashboard and the one-device queries ask about. */
	dense: number;
	devices: number[];
}

/** A database of its own for this run (dropped by `drop()`), migrated, seeded. */
async function seedDatabase(): Promise<Seeded> {
	const name = `bench_monitoring_${process.pid}`;
	const admin = new Client({ connectionString: `${PG}/postgres` });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${name}`);
	await admin.end();
	const url = `${PG}/${name}`;
	const db = await openDatabase({ databaseUrl: url, dataDir: tempDir("bench-mon") });
	const drop = async () => {
		await db.close().catch(() => undefined);
		const c = new Client({ connectionString: `${PG}/postgres` });
		await c.connect();
		await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
		await c.end();
	};
	try {
		await migrate(db);
		return { db, url, drop, ...(await fill(db)) };
	} catch (err) {
		await drop();
		throw err;
	}
}

async function fill(db: Database): Promise<Omit<Seeded, "db" | "url" | "drop">> {
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
	// The dense device: one reading per datapoint per second (or fewer when --rows is small);
	// the other devices share what is left of the rows, evenly spaced over the span.
	const denseN = Math.min(SPAN_S, Math.floor((ROWS * 0.4) / DATAPOINTS));
	const otherN = Math.max(1, Math.floor((ROWS - denseN * DATAPOINTS) / ((DEVICES - 1) * DATAPOINTS)));
	await db.query(
		`CREATE TEMP TABLE bench_series AS
		 SELECT dp.id, dp.device_id,
		   ($1::float8 / CASE WHEN dp.device_id = $2::int THEN $3::int ELSE $4::int END) AS step
		 FROM datapoints dp WHERE dp.device_id = ANY($5::int[])`,
		[SPAN_S, ids[0], denseN, otherN, ids]
	);
	const end = Math.floor(Date.now() / 1000) * 1000;
	const start = end - SPAN_S * 1000;
	const total = denseN * DATAPOINTS + otherN * (DEVICES - 1) * DATAPOINTS;
	console.log(
		`stats: seeding ${total.toLocaleString()} rows: device ${ids[0]} ${DATAPOINTS} datapoints × ` +
			`${denseN.toLocaleString()} readings ` +
			`(every ${(SPAN_S / denseN).toFixed(1)} s), ${DEVICES - 1} devices × ${DATAPOINTS} × ` +
			`${otherN.toLocaleString()} ` +
			`(every ${(SPAN_S / otherN).toFixed(1)} s), over ${(SPAN_S / 86_400).toFixed(2)} days`
	);
	const t = Date.now();
	// Load without the table's indexes (rebuilt after: far faster than maintaining them per row).
	const indexes = await db.query<{ name: string; def: string; pk: boolean }>(
		`SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary AS pk
		 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'decoded_data'::regclass`
	);
	for (const ix of indexes)
		await db.query(ix.pk ? `ALTER TABLE decoded_data DROP CONSTRAINT ${ix.name}` : `DROP INDEX ${ix.name}`);
	// An hour of the whole fleet per statement, in time order; the rollup trigger runs per statement.
	const chunkS = 3600;
	for (let c0 = 0; c0 < SPAN_S; c0 += chunkS) {
		await db.query(
			`INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
			 SELECT to_timestamp($1::float8 / 1000 + i * s.step), s.device_id, s.id,
			   20 + 5 * sin(i * s.step / 300.0) + s.id
			 FROM bench_series s
			 CROSS JOIN LATERAL generate_series(ceil($2::float8 / s.step)::int,
			   ceil(least($3::float8, $4::float8) / s.step)::int - 1) AS i
			 ORDER BY 1`,
			[start, c0, c0 + chunkS, SPAN_S]
		);
	}
	const loaded = Date.now();
	await db.query("SET maintenance_work_mem = '512MB'");
	for (const ix of indexes) {
		if (ix.pk)
			await db.query(
				`ALTER TABLE decoded_data ADD CONSTRAINT ${ix.name} PRIMARY KEY (timestamp, device_id, datapoint_id)`
			);
		else await db.query(ix.def);
	}
	// What autovacuum does on a live table: summarise the BRIN ranges, set the visibility map, update statistics.
	await db.query("VACUUM ANALYZE decoded_data");
	await db.query("VACUUM ANALYZE decoded_data_1m");
	const [{ n }] = await db.query("SELECT count(*)::bigint AS n FROM decoded_data");
	const [{ rn }] = await db.query("SELECT count(*)::bigint AS rn FROM decoded_data_1m");
	const [{ size, rsize }] = await db.query(
		"SELECT pg_size_pretty(pg_total_relation_size('decoded_data')) AS size, " +
			"pg_size_pretty(pg_total_relation_size('decoded_data_1m')) AS rsize"
	);
	console.log(
		`stats: seeded ${Number(n).toLocaleString()} rows (${size}; rollup ${Number(rn).toLocaleString()} rows, ` +
			`${rsize}) in ${((Date.now() - t) / 1000).toFixed(0)} s (load ${((loaded - t) / 1000).toFixed(0)} s, ` +
			`indexes and VACUUM ANALYZE ${((Date.now() - loaded) / 1000).toFixed(0)} s)`
	);
	return { from: start, to: end, dense: ids[0], devices: ids };
}

interface Case {
	name: string;
	spanMs: number;
	/** The statements the stats action runs for this request (it runs them at the same time). */
	build: (f: StatsFilter) => { text: string; values: unknown[] }[];
	fleet?: boolean;
}

const summary = (f: StatsFilter) => [buildSummaryQuery(f)];
const withBuckets = (bucketMs: number) => (f: StatsFilter) => [
	buildSummaryQuery(f),
	buildBucketQuery({ ...f, bucketMs })
];
const CASES: Case[] = [
	{ name: "one device, 1 h, summary", spanMs: 3600_000, build: summary },
	{ name: "one device, 1 h, summary + 1-min buckets", spanMs: 3600_000, build: withBuckets(60_000) },
	{
		name: "one device, 24 h, 1-min buckets",
		spanMs: 86_400_000,
		build: f => [buildBucketQuery({ ...f, bucketMs: 60_000 })]
	},
	{ name: "dashboard 24 h history (summary + 5-min buckets)", spanMs: 86_400_000, build: withBuckets(300_000) },
	{ name: "dashboard 7 d history (summary + 30-min buckets)", spanMs: 7 * 86_400_000, build: withBuckets(1_800_000) },
	{ name: "whole fleet, 1 h, summary", spanMs: 3600_000, build: summary, fleet: true }
];

async function benchStats(s: Seeded): Promise<void> {
	// The work each query does, independent of how busy the machine is: one EXPLAIN ANALYZE per
	// case and mode over a window 5 h before the end of the data, buffers touched and rows read.
	for (const c of CASES) {
		const line: string[] = [];
		for (const rollup of [false, true]) {
			const end = s.to - 5 * 3600_000 - 12_345;
			const f: StatsFilter = {
				window: { from: new Date(end - c.spanMs), to: new Date(end) },
				deviceId: c.fleet ? undefined : s.dense,
				bucketFn: "date_bin",
				rollup
			};
			let exec = 0;
			let buffers = 0;
			const scans: string[] = [];
			for (const q of c.build(f)) {
				const [row] = await s.db.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + q.text, q.values);
				const p = (row["QUERY PLAN"] as { "Execution Time": number; Plan: PlanNode }[])[0];
				exec += p["Execution Time"];
				buffers += (p.Plan["Shared Hit Blocks"] ?? 0) + (p.Plan["Shared Read Blocks"] ?? 0);
				scans.push(...scansOf(p.Plan));
			}
			line.push(
				`${rollup ? "rollup" : "raw"} ${ms(exec)}, ${buffers.toLocaleString()} buffers [${scans.join(", ")}]`
			);
		}
		console.log(`explain: ${c.name}: ${line.join("; ")}`);
	}
	for (const c of CASES) {
		const line: string[] = [];
		for (const rollup of [false, true]) {
			const lat: number[] = [];
			const t0 = Date.now();
			for (let i = 0; i < QUERIES + 3 && (i < 13 || Date.now() - t0 < QUERY_BUDGET_MS); i++) {
				// A random window ending at a random (unaligned) time inside the data, a random
				// datapoint's device for the fleet case: no two queries hit the same cache lines on purpose.
				const end = s.from + c.spanMs + Math.random() * Math.max(0, s.to - s.from - c.spanMs);
				const f: StatsFilter = {
					window: { from: new Date(end - c.spanMs), to: new Date(end) },
					deviceId: c.fleet ? undefined : s.dense,
					bucketFn: "date_bin",
					rollup
				};
				const t = process.hrtime.bigint();
				await Promise.all(c.build(f).map(q => s.db.query(q.text, q.values)));
				if (i >= 3) lat.push(Number(process.hrtime.bigint() - t) / 1e6);
			}
			lat.sort((a, b) => a - b);
			line.push(`${rollup ? "rollup" : "raw"} p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))} (${lat.length})`);
		}
		console.log(`stats: ${c.name}: ${line.join("; ")}`);
	}
}

interface PlanNode {
	"Node Type": string;
	"Relation Name"?: string;
	"Index Name"?: string;
	"Actual Rows": number;
	"Shared Hit Blocks"?: number;
	"Shared Read Blocks"?: number;
	Plans?: PlanNode[];
}

/** The scans of a plan: what was read, how, and how many rows came out. */
function scansOf(p: PlanNode): string[] {
	const self =
		/Scan$/.test(p["Node Type"]) && (p["Relation Name"] || p["Index Name"])
			? [`${p["Node Type"]} ${p["Index Name"] ?? p["Relation Name"]} ${p["Actual Rows"].toLocaleString()} rows`]
			: [];
	return [...self, ...(p.Plans ?? []).flatMap(scansOf)];
}

/**
 * Time to first chart: a gateway over the seeded database, the device page of the 1 Hz device
 * in headless Chromium. Cold: a new browser profile (nothing cached), the page opened with a
 * token already stored (the sign-in is not part of the chart). Warm: a reload in that profile.
 */
async function benchChart(s: Seeded): Promise<void> {
	const { chromium } = await import("playwright-core");
	const built = await buildDashboard();
	if (built.built) console.log(`chart: dashboard bundled in ${built.ms} ms`);
	const email = "ops@example.com";
	const password = "Bench-walrus-2931";
	const broker = createTestBroker({
		namespace: uniqueNamespace("bench-chart"),
		env: {
			DATABASE_URL: s.url,
			ADMIN_EMAIL: email,
			ADMIN_PASSWORD: password,
			AUTH_RATE_LIMIT: "1000000",
			LOGLEVEL: "error"
		},
		services: [SigningService, GatewayService, ManagerService, MonitoringService],
		logLevel: "error"
	});
	const browser = await findChromium();
	try {
		await broker.start();
		const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
		const url = `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
		const token = await signIn(url, email, password);
		console.log(`chart: Chromium from ${browser.source}; device page ${url}/#/devices/${s.dense}`);
		const drawn = (page: import("playwright-core").Page, what: RegExp) =>
			page.waitForFunction(
				re => new RegExp(re).test(document.querySelector("#history-note")?.textContent ?? ""),
				what.source,
				{ timeout: 60_000, polling: 10 }
			);
		const cold: number[] = [];
		const warm: number[] = [];
		const ranges: Record<string, number[]> = { "24h": [], "7d": [] };
		let note = "";
		for (let run = 0; run < 3; run++) {
			const dir = tempDir("bench-chart-profile");
			const ctx = await chromium.launchPersistentContext(dir, {
				executablePath: browser.executablePath,
				headless: true,
				args: [
					"--headless",
					"--no-sandbox",
					"--disable-gpu",
					"--no-first-run",
					"--disable-background-networking",
					...browser.args
				],
				viewport: { width: 1440, height: 900 },
				locale: "en-US"
			});
			try {
				await ctx.addInitScript(t => localStorage.setItem("fleetmesh.token", t), token);
				const page = ctx.pages()[0] ?? (await ctx.newPage());
				let t = Date.now();
				await page.goto(`${url}/#/devices/${s.dense}`);
				await drawn(page, / · [\d,.]+ readings/);
				cold.push(Date.now() - t);
				note = (await page.locator("#history-note").textContent()) ?? "";
				for (const r of ["24h", "7d"]) {
					t = Date.now();
					await page.click(`[data-range="${r}"]`);
					await drawn(page, new RegExp(` · averages per ${r === "24h" ? "5m" : "30m"}`));
					ranges[r].push(Date.now() - t);
				}
				for (let i = 0; i < 3; i++) {
					t = Date.now();
					await page.reload();
					await drawn(page, / · [\d,.]+ readings/);
					warm.push(Date.now() - t);
				}
			} finally {
				await ctx.close();
				fs.rmSync(dir, { recursive: true, force: true });
			}
		}
		const fmt = (l: number[]) => {
			const x = [...l].sort((a, b) => a - b);
			return `median ${x[x.length >> 1]} ms, max ${x[x.length - 1]} ms (${x.length})`;
		};
		console.log(`chart: history note "${note.trim()}"`);
		console.log(`chart: time to first chart (device page, 1 h of raw readings), cold profile: ${fmt(cold)}`);
		console.log(`chart: time to first chart, warm (reload): ${fmt(warm)}`);
		console.log(`chart: switch to 24 h (5-min buckets) until drawn: ${fmt(ranges["24h"])}`);
		console.log(`chart: switch to 7 d (30-min buckets) until drawn: ${fmt(ranges["7d"])}`);
	} finally {
		await broker.stop();
	}
}

/**
 * What the rollup costs the sink: the pipeline's own insert (COPY into a stage table, INSERT …
 * ON CONFLICT DO NOTHING) of WRITE_ROWS rows in batches of 5,000, with the rollup trigger and
 * with it disabled, alternating; few series per batch (12: the pipeline bench's controllers)
 * and every row of a batch a different series (5,000 series).
 */
async function benchWrite(): Promise<void> {
	const name = `bench_monitoring_write_${process.pid}`;
	const admin = new Client({ connectionString: `${PG}/postgres` });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${name}`);
	const db = await openDatabase({ databaseUrl: `${PG}/${name}`, dataDir: tempDir("bench-mon-write") });
	try {
		await migrate(db);
		const total = Number(process.env.WRITE_ROWS ?? 300_000);
		const batch = 5000;
		for (const series of [12, 5000]) {
			const line: string[] = [];
			const times: Record<string, number[]> = { rollup: [], "no rollup": [] };
			let t0 = Date.UTC(2026, 0, 1);
			for (let round = 0; round < 2; round++) {
				for (const mode of ["rollup", "no rollup"] as const) {
					const toggle = mode === "rollup" ? "ENABLE" : "DISABLE";
					await db.query(`ALTER TABLE decoded_data ${toggle} TRIGGER decoded_data_rollup_insert`);
					const start = process.hrtime.bigint();
					for (let i = 0; i < total; i += batch) {
						const rows = Array.from({ length: batch }, (_, k) => {
							const n = i + k;
							// `series` series reporting in turn, each once a second.
							return {
								ts: t0 + Math.floor(n / series) * 1000,
								deviceId: 1 + (n % series),
								datapointId: 1 + (n % series),
								value: n % 1000
							};
						});
						await insertReadings(db, rows);
					}
					times[mode].push(Number(process.hrtime.bigint() - start) / 1e9);
					t0 += Math.ceil(total / series) * 1000 + 60_000;
				}
			}
			for (const mode of ["no rollup", "rollup"]) {
				const best = Math.min(...times[mode]);
				line.push(`${mode} ${Math.round(total / best).toLocaleString()} rows/s`);
			}
			const cost = (Math.min(...times.rollup) / Math.min(...times["no rollup"]) - 1) * 100;
			console.log(
				`write: ${series} series, ${total.toLocaleString()} rows in batches of ${batch.toLocaleString()}: ` +
					`${line.join(", ")} (best of 2; the rollup adds ${cost.toFixed(0)} %)`
			);
		}
	} finally {
		await db.close();
		await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
		await admin.end();
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
		const token = await signIn(url, email, password);
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
	console.log(
		`bench/monitoring on ${os.cpus().length} CPUs, node ${process.version}, load average ${os
			.loadavg()
			.map(l => l.toFixed(2))
			.join(" ")}, ${new Date().toISOString()}`
	);
	if (PARTS.has("stats") || PARTS.has("chart")) {
		const s = await seedDatabase();
		try {
			if (PARTS.has("stats")) await benchStats(s);
			if (PARTS.has("chart")) await benchChart(s);
		} finally {
			await s.drop();
		}
	}
	if (PARTS.has("write")) await benchWrite();
	if (PARTS.has("live")) await benchLive();
	console.log(
		`bench/monitoring done, load average ${os
			.loadavg()
			.map(l => l.toFixed(2))
			.join(" ")}`
	);
	process.exit(0);
})().catch(err => {
	console.error(err);
	process.exit(1);
});
