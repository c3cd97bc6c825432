/**
 * Automation in its own OS processes (started as `npm start` starts a node), next to this
 * test's node with the device chain and the simulator's PTY devices, over NATS and PostgreSQL:
 * killed with SIGKILL in the middle of a `for` wait and after firing, two instances on two
 * nodes at once, and schedules that fell due while no instance ran.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import type { Database } from "../../mixins/db.mixin";
import { acquireDatabase, releaseDatabase } from "../../mixins/db.mixin";
import { loadRuns } from "../../services/automation/store";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteNatsStreams } from "../helpers/cleanup";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { NATS_URL, requireServer } from "../helpers/servers";

const namespace = uniqueNamespace("automation-e2e");
let pg: TestDatabase;
let pi: ServiceBroker;
let db: Database;
const nodes: NodeProcess[] = [];
let uno: number;
let modbus: number;

async function startAutomation(n: number): Promise<NodeProcess> {
	const node = startNode({
		NAMESPACE: namespace,
		NODEID: `auto-${n}`,
		TRANSPORTER: NATS_URL,
		DATABASE_URL: pg.url,
		SERVICES: path.join(ROOT, "services/automation/automation.service.ts"),
		SERVICEDIR: ROOT,
		AUTOMATION_TICK_MS: "100",
		DATA_DIR: tempDir("automation-e2e"),
		PORT: "0",
		SIMULATE: "0",
		LOGLEVEL: "info"
	});
	nodes.push(node);
	current = `auto-${n}`;
	await node.waitForOutput(/automation: ready/, 40_000);
	// The first node to join is seen by this node's registry before calls go to it.
	await waitFor(() => pi.registry.nodes.get(`auto-${n}`)?.available, 15_000, `auto-${n} discovered`);
	return node;
}

/** The newest automation node: a killed one stays in the registry until its heartbeat times out. */
let current = "";
const call = <T = any>(action: string, params: Record<string, unknown> = {}) =>
	pi.call<T, any>(`automation.${action}`, params, { nodeID: current });
/** History straight from the database (whichever instance wrote it), newest first, as the API shapes it. */
const runsOf = (filter: { rule?: number; schedule?: number }): Promise<any[]> =>
	filter.rule
		? loadRuns(db, "r.rule_id = $1", [filter.rule], "ORDER BY r.id DESC")
		: loadRuns(db, "r.schedule_id = $1", [filter.schedule], "ORDER BY r.id DESC");
const registers = async (id: string) =>
	((await pi.call<any[], any>("simulator.devices", {})).find(d => d.id === id)?.registers ?? {}) as Record<
		string,
		number
	>;

beforeAll(async () => {
	await requireServer("nats");
	pg = await createTestDatabase("automation_e2e");
	pi = createTestBroker({
		namespace,
		nodeID: "pi",
		env: { DATABASE_URL: pg.url, TRANSPORTER: NATS_URL, DETECTOR_SOURCE: "simulated", SIMULATE: "0" },
		services: [DetectorService, ManagerService, ProcessorService, SimulatorService]
	});
	await pi.start();
	db = await acquireDatabase(pi);
}, 90_000);

/** Plugged once an automation node has created the readings stream (earlier readings would find none). */
async function plugDevices() {
	const plug = async (kind: string, id: string, serial: string, extra: Record<string, unknown> = {}) => {
		await pi.call("simulator.plug", { kind, id, serial, ...extra });
		return waitFor(
			async () => {
				const [d] = await db.query("SELECT id, status FROM devices WHERE serial = $1", [serial]);
				return d?.status === "streaming" ? Number(d.id) : null;
			},
			20_000,
			`${id} streaming`
		);
	};
	uno = await plug("arduino-uno", "uno", "UNO-E2E", { rateHz: 4, lines: ["temperature:35.5,humidity:40"] });
	modbus = await plug("modbus-sensor", "rs485", "FTE2E");
}

afterAll(async () => {
	for (const n of nodes) await n.kill("SIGKILL");
	await releaseDatabase(pi).catch(() => undefined);
	await pi?.stop();
	await pg?.drop();
	await deleteNatsStreams(namespace).catch(() => undefined);
});

describe("automation across restarts and instances", () => {
	it("SIGKILL in a for wait, restarted: fires once, on time; a restart after firing does not refire", async () => {
		let node = await startAutomation(1);
		await plugDevices();
		const rule = await call("createRule", {
			name: "hot for 8 s",
			trigger: { type: "reading", deviceId: uno, datapoint: "temperature", above: 30, for: "8s" },
			actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 12, value: 7 } }]
		});
		const pendingSince = await waitFor(
			async () =>
				(await db.query("SELECT pending_since FROM automation_rule_state WHERE rule_id = $1", [rule.id]))[0]
					?.pending_since,
			10_000,
			"the wait started"
		);
		await new Promise(r => setTimeout(r, 1000));
		await node.kill("SIGKILL");
		expect(await runsOf({ rule: rule.id })).toHaveLength(0);
		node = await startAutomation(2);
		const [run] = await waitFor(
			async () => {
				const runs = await runsOf({ rule: rule.id });
				return runs.length && runs[0].status === "succeeded" ? runs : null;
			},
			20_000,
			"the run after the restart"
		);
		const due = new Date(pendingSince).getTime() + 8000;
		expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(due);
		expect(Date.parse(run.startedAt) - due).toBeLessThan(1000);
		expect(run.trigger.pendingSince).toBe(new Date(pendingSince).toISOString());
		expect((await registers("rs485"))["12"]).toBe(7);

		await node.kill("SIGKILL");
		node = await startAutomation(3);
		// Readings keep coming above the threshold, and JetStream redelivers what the dead node had not acknowledged.
		await new Promise(r => setTimeout(r, 4000));
		const runs = await runsOf({ rule: rule.id });
		expect(runs).toHaveLength(1);
		expect(runs[0].commands).toHaveLength(1);
		await call("updateRule", { id: rule.id, enabled: false });
	}, 120_000);

	it("two instances on two nodes: exactly one run per crossing and per occurrence", async () => {
		await startAutomation(4); // auto-3 still runs
		// `light`: a datapoint of the Uno's profile its script does not print, so only these readings reach it.
		const hum = Number(
			(await db.query("SELECT id FROM datapoints WHERE device_id = $1 AND label = 'light'", [uno]))[0].id
		);
		const rule = await call("createRule", {
			name: "bright",
			mode: "parallel",
			trigger: { type: "reading", deviceId: uno, datapoint: "light", above: 80, for: "300ms" },
			actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 13, value: 1 } }]
		});
		const sched = await call("createSchedule", {
			name: "every second",
			interval: "1s",
			actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 14, value: 1 } }]
		});
		// Crossings published one message at a time, so both instances' consumers take some; each
		// is held past `for` (fired by whichever instance claims the timer, or by the next reading).
		const crossings = 8;
		for (let i = 0; i < crossings; i++) {
			const t = Date.now();
			await pi.sendToChannel("telemetry.readings", {
				readings: [{ deviceId: uno, datapointId: hum, value: 90, ts: t }]
			});
			await new Promise(r => setTimeout(r, 200));
			await pi.sendToChannel("telemetry.readings", {
				readings: [{ deviceId: uno, datapointId: hum, value: 91, ts: Date.now() }]
			});
			await new Promise(r => setTimeout(r, 300));
			await pi.sendToChannel("telemetry.readings", {
				readings: [{ deviceId: uno, datapointId: hum, value: 50, ts: Date.now() }]
			});
			await new Promise(r => setTimeout(r, 100));
		}
		const runs = await waitFor(
			async () => {
				const r = await runsOf({ rule: rule.id });
				// Finished: a Modbus write may still fail on the wire; the point here is how many runs there are.
				return r.length >= crossings && r.every(x => x.status !== "running" && x.status !== "waiting")
					? r
					: null;
			},
			20_000,
			"one run per crossing"
		);
		await new Promise(r => setTimeout(r, 1000));
		expect(await runsOf({ rule: rule.id })).toHaveLength(crossings);
		expect(new Set(runs.map(r => r.trigger.pendingSince)).size).toBe(crossings);
		await call("updateSchedule", { id: sched.id, enabled: false });
		const occ = (await runsOf({ schedule: sched.id })).map(r => Date.parse(r.scheduledFor)).sort((a, b) => a - b);
		expect(occ.length).toBeGreaterThanOrEqual(3);
		expect(new Set(occ).size).toBe(occ.length);
		for (let i = 1; i < occ.length; i++) expect(occ[i] - occ[i - 1]).toBe(1000);
		const [s3, s4] = await Promise.all(
			["auto-3", "auto-4"].map(n => pi.call<any, any>("automation.stats", {}, { nodeID: n }))
		);
		expect(s3.readings + s4.readings).toBeGreaterThan(0);
		await call("updateRule", { id: rule.id, enabled: false });
	}, 60_000);

	it("schedules due while no instance ran: run_once catches up once, skip records one missed entry", async () => {
		const startAt = new Date(Date.now() - 3 * 3_600_000 - 5 * 60_000).toISOString();
		const action = [{ type: "command", deviceId: modbus, action: "write", params: { register: 15, value: 1 } }];
		const once = await call("createSchedule", {
			name: "hourly, catch up",
			interval: "1h",
			startAt,
			misfire: "run_once",
			actions: action
		});
		const skip = await call("createSchedule", {
			name: "hourly, skip",
			interval: "1h",
			startAt,
			misfire: "skip",
			actions: action
		});
		for (const n of nodes) await n.kill("SIGKILL");
		// The downtime: the stored next runs are where an instance that stopped two hours ago left them.
		await db.query(
			"UPDATE automation_schedules SET next_run_at = next_run_at - interval '3 hours' WHERE id = ANY($1::int[])",
			[[once.id, skip.id]]
		);
		await startAutomation(5);
		const [caught] = await waitFor(
			async () => {
				const r = await runsOf({ schedule: once.id });
				return r.length && r[0].status === "succeeded" ? r : null;
			},
			20_000,
			"the catch-up run"
		);
		const expected = Date.parse(startAt) + 3 * 3_600_000;
		expect(caught).toMatchObject({ misfired: true, scheduledFor: new Date(expected).toISOString() });
		const [missed] = await waitFor(
			async () => nonEmpty(await runsOf({ schedule: skip.id })),
			10_000,
			"the missed entry"
		);
		expect(missed).toMatchObject({
			status: "missed",
			misfired: true,
			scheduledFor: new Date(expected).toISOString(),
			commands: []
		});
		await new Promise(r => setTimeout(r, 1000));
		expect(await runsOf({ schedule: once.id })).toHaveLength(1);
		expect(await runsOf({ schedule: skip.id })).toHaveLength(1);
		expect((await call("getSchedule", { id: once.id })).nextRunAt).toBe(
			new Date(expected + 3_600_000).toISOString()
		);
	}, 60_000);
});

const nonEmpty = <T>(a: T[]) => (a.length ? a : null);
