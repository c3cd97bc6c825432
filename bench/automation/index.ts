/**
 * bench/automation: the automation service under load on one node. Prints figures; asserts nothing.
 *
 *   npx tsx bench/automation/index.ts        (needs PostgreSQL and NATS on loopback, socat)
 *   RULES=1000 READINGS=200000 CROSSINGS=50 SCHEDULES=300 npx tsx bench/automation/index.ts
 *
 * One broker runs automation with the device chain (detector, manager, processor, simulator):
 *   1. readings/s evaluated with RULES enabled rules (10 datapoints × RULES/10 devices), batches of
 *      1,000 readings on `telemetry.readings` (JetStream), 1 % of them crossing a threshold;
 *   2. latency from publishing a reading that crosses a threshold to the command written on a
 *      simulated Modbus device (`automation.command.changed` succeeded: the slave acknowledged);
 *   3. schedule occurrences/s: SCHEDULES interval schedules each with 20 occurrences due at once.
 */
import crypto from "node:crypto";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { Client } from "pg";
import { buildBrokerOptions } from "../../moleculer.config";
import AutomationService from "../../services/automation/automation.service";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import { readEnv } from "../../services/shared/env";
import type { Database } from "../../mixins/db.mixin";

const RULES = Number(process.env.RULES ?? 1000);
/** Percentage of readings that cross a threshold (each crossing is a run and a command). */
const CROSSING_PCT = Number(process.env.CROSSING_PCT ?? 1);
const READINGS = Number(process.env.READINGS ?? 200_000);
const CROSSINGS = Number(process.env.CROSSINGS ?? 50);
const SCHEDULES = Number(process.env.SCHEDULES ?? 300);
const PG = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const pct = (xs: number[], p: number) =>
	[...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main() {
	const dbName = `bench_automation_${crypto.randomBytes(3).toString("hex")}`;
	const admin = new Client({ connectionString: PG });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${dbName}`);
	const url = new URL(PG);
	url.pathname = `/${dbName}`;
	const namespace = `bench-automation-${process.pid}`;
	const changed: Array<{ commandId: number; status: string; at: number }> = [];
	const Probe: ServiceSchema = {
		name: "bench-probe",
		events: {
			"automation.command.changed"(ctx: any) {
				changed.push({ commandId: ctx.params.commandId, status: ctx.params.status, at: Date.now() });
			}
		}
	};
	const broker = new ServiceBroker(
		buildBrokerOptions(
			readEnv({
				NAMESPACE: namespace,
				NODEID: "bench",
				TRANSPORTER: NATS,
				DATABASE_URL: url.toString(),
				DETECTOR_SOURCE: "simulated",
				SIMULATE: "0",
				LOGLEVEL: "warn",
				METRICS: "0",
				PORT: "0",
				AUTOMATION_TICK_MS: "100",
				DATA_DIR: `/tmp/${namespace}`
			})
		)
	);
	for (const s of [DetectorService, ManagerService, ProcessorService, SimulatorService, AutomationService, Probe])
		broker.createService(s);
	await broker.start();
	const svc = broker.getLocalService("automation") as unknown as {
		db: Database;
		core: { counters: { readings: number; evaluated: number }; processReadings(r: unknown[]): Promise<void> };
	};
	const db = svc.db;
	try {
		// ---- 1. readings/s with RULES enabled rules -----------------------------------------
		const devices = Math.max(1, Math.round(RULES / 10));
		const dps: Array<{ device: number; dp: number }> = [];
		for (let d = 0; d < devices; d++) {
			const [dev] = await db.query(
				"INSERT INTO devices (uid, name, status) VALUES ($1, $1, 'disconnected') RETURNING id",
				[`bench-${d}`]
			);
			for (let k = 0; k < 10; k++) {
				const [dp] = await db.query("INSERT INTO datapoints (device_id, label) VALUES ($1, $2) RETURNING id", [
					dev.id,
					`v${k}`
				]);
				dps.push({ device: Number(dev.id), dp: Number(dp.id) });
			}
		}
		const target = dps[0].device;
		// One rule through the API (validated); the others are copies of its row, loaded with one
		// reload: setup is not what is measured.
		const first = dps[0];
		const proto = await broker.call<{ id: number }, any>("automation.createRule", {
			name: "r0",
			maxRunsPerHour: 3600,
			trigger: { type: "reading", deviceId: first.device, datapoint: first.dp, above: 50, hysteresis: 1 },
			actions: [
				{ type: "command", deviceId: target, action: "write", params: { register: 1, value: 1 }, ttl: "1s" }
			]
		});
		for (const [i, x] of dps.slice(1, RULES).entries()) {
			await db.query(
				`INSERT INTO automation_rules (name, enabled, mode, trigger, conditions, actions, max_runs_per_hour,
				 device_ids)
				 SELECT $2, true, mode, jsonb_set(jsonb_set(trigger, '{deviceId}', to_jsonb($3::int)),
				 '{datapointId}', to_jsonb($4::int)),
				        conditions, actions, max_runs_per_hour, ARRAY[$3::int, $5::int] FROM automation_rules WHERE id
				 = $1`,
				[proto.id, `r${i + 1}`, x.device, x.dp, target]
			);
		}
		broker.broadcast("automation.config.changed", { kind: "rule", id: proto.id });
		while ((await broker.call<{ rules: number }, any>("automation.stats", {})).rules < RULES) await sleep(50);
		const before = svc.core.counters.readings;
		const t0 = Date.now();
		const BATCH = 1000;
		let sent = 0;
		let n = 0;
		while (sent < READINGS) {
			const readings = [];
			for (let i = 0; i < BATCH; i++) {
				const x = dps[n++ % dps.length];
				// CROSSING_PCT % cross above 50, scattered over the rules (and come back on the next
				// pass): a run each; the others are evaluated without a write.
				const crossing = Math.imul(n, 2654435761) >>> 0;
				readings.push({
					deviceId: x.device,
					datapointId: x.dp,
					value: crossing % 10_000 < CROSSING_PCT * 100 ? 60 : 20 + (n % 20),
					ts: t0 + n
				});
			}
			await broker.sendToChannel("telemetry.readings", { readings });
			sent += BATCH;
		}
		const published = Date.now();
		while (svc.core.counters.readings - before < READINGS && Date.now() - t0 < 60_000) await sleep(20);
		const took = (Date.now() - t0) / 1000;
		const done = svc.core.counters.readings - before;
		await sleep(2000);
		const runs = Number(
			(await db.query("SELECT count(*)::int AS n FROM automation_runs WHERE source = 'rule'"))[0].n
		);
		console.log(
			`1. ${RULES} enabled rules, ${CROSSING_PCT} % of readings crossing: ${done} readings evaluated ` +
				`in ${took.toFixed(1)} s = ${Math.round(done / took).toLocaleString()} readings/s (published in ` +
				`${((published - t0) / 1000).toFixed(1)} s; ${runs} runs started by the crossings)`
		);
		await db.query("UPDATE automation_rules SET enabled = false");
		broker.broadcast("automation.config.changed", { kind: "rule", id: 0 });
		await sleep(300);

		// ---- 2. crossing → command written on a simulated Modbus device ------------------------
		await broker.call("simulator.plug", {
			kind: "arduino-uno",
			id: "uno",
			serial: "BENCH-UNO",
			rateHz: 1,
			lines: ["temperature:20"]
		});
		await broker.call("simulator.plug", { kind: "modbus-sensor", id: "rs485", serial: "BENCH-MB" });
		let uno = 0;
		let mb = 0;
		while (!uno || !mb) {
			await sleep(100);
			const rows = await db.query(
				"SELECT id, serial FROM devices WHERE serial IN ('BENCH-UNO', 'BENCH-MB') AND status = 'streaming'"
			);
			uno = Number(rows.find(r => r.serial === "BENCH-UNO")?.id ?? 0);
			mb = Number(rows.find(r => r.serial === "BENCH-MB")?.id ?? 0);
		}
		const [light] = await db.query("SELECT id FROM datapoints WHERE device_id = $1 AND label = 'light'", [uno]);
		await broker.call("automation.createRule", {
			name: "latency",
			mode: "parallel",
			trigger: { type: "reading", deviceId: uno, datapoint: Number(light.id), above: 100 },
			actions: [{ type: "command", deviceId: mb, action: "write", params: { register: 3, value: 1 } }]
		});
		await sleep(300);
		const lat: number[] = [];
		for (let i = 0; i < CROSSINGS; i++) {
			const from = changed.length;
			const sentAt = Date.now();
			await broker.sendToChannel("telemetry.readings", {
				readings: [{ deviceId: uno, datapointId: Number(light.id), value: 200, ts: sentAt }]
			});
			while (!changed.slice(from).some(c => c.status === "succeeded") && Date.now() - sentAt < 10_000)
				await sleep(1);
			const ok = changed.slice(from).find(c => c.status === "succeeded");
			if (ok) lat.push(ok.at - sentAt);
			await broker.sendToChannel("telemetry.readings", {
				readings: [{ deviceId: uno, datapointId: Number(light.id), value: 0, ts: Date.now() }]
			});
			await sleep(50);
		}
		console.log(
			`2. reading crossing → command written on the Modbus device (${lat.length}/${CROSSINGS}): p50 ` +
				`${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms`
		);

		// ---- 3. schedule occurrences/s -------------------------------------------------------
		const startAt = new Date(Date.now() - 19_500).toISOString();
		const runsBefore = Number(
			(await db.query("SELECT count(*)::int AS n FROM automation_runs WHERE source = 'schedule'"))[0].n
		);
		await db.query("UPDATE automation_schedules SET enabled = false");
		const ids: number[] = [];
		for (let i = 0; i < SCHEDULES; i++) {
			const s = await broker.call<{ id: number }, any>("automation.createSchedule", {
				name: `s${i}`,
				interval: "1s",
				startAt,
				enabled: false,
				actions: [
					{ type: "command", deviceId: target, action: "write", params: { register: 2, value: i }, ttl: "1s" }
				]
			});
			ids.push(s.id);
		}
		// All due at once: 20 occurrences each, inside the minute that counts as on time.
		await db.query(
			"UPDATE automation_schedules SET enabled = true, next_run_at = start_at WHERE id = ANY($1::int[])",
			[ids]
		);
		const s0 = Date.now();
		const expected = SCHEDULES * 20;
		let count = 0;
		while (Date.now() - s0 < 60_000) {
			count =
				Number(
					(
						await db.query(
							"SELECT count(*)::int AS n FROM automation_runs WHERE source = 'schedule' AND " +
								"status <> 'running'"
						)
					)[0].n
				) - runsBefore;
			if (count >= expected) break;
			await sleep(100);
		}
		const st = (Date.now() - s0) / 1000;
		console.log(
			`3. ${SCHEDULES} schedules × 20 due occurrences: ${count} runs (each with a command) in ` +
				`${st.toFixed(1)} s = ${Math.round(count / st).toLocaleString()} occurrences/s`
		);
	} finally {
		await broker.stop();
		await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
		await admin.end();
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
