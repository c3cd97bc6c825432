/**
 * Automation through the real parts on one node: HTTP through the gateway with real tokens,
 * PostgreSQL, NATS JetStream for `telemetry.readings`, and the simulator's PTY devices (an
 * Arduino streaming lines, Modbus RTU sensors whose holding registers take the commands).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceSchema } from "moleculer";
import AutomationService from "../../services/automation/automation.service";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import type { Database } from "../../mixins/db.mixin";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteNatsStreams } from "../helpers/cleanup";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

const ns = uniqueNamespace("automation");
let pg: TestDatabase;
let db: Database;
let node: GatewayNode;
let admin: string;
const events: Array<{ name: string; params: any }> = [];

const Listener: ServiceSchema = {
	name: "automation-listener",
	events: {
		"automation.**"(ctx: any) {
			events.push({ name: ctx.eventName, params: ctx.params });
		},
		"live.push"(ctx: any) {
			events.push({ name: ctx.eventName, params: ctx.params });
		}
	}
};

const A = (method: string, path: string, body?: unknown, token: string | null = admin) => api(node.url, method, `/api/automation${path}`, body, token);

async function plug(kind: string, id: string, serial: string, extra: Record<string, unknown> = {}) {
	await node.broker.call("simulator.plug", { kind, id, serial, ...extra });
	return waitFor(async () => {
		const [d] = await db.query("SELECT id, status FROM devices WHERE serial = $1", [serial]);
		return d?.status === "streaming" ? Number(d.id) : null;
	}, 20_000, `${id} streaming`);
}
const registers = async (id: string) => ((await node.broker.call<any[], any>("simulator.devices", {})).find(d => d.id === id)?.registers ?? {}) as Record<string, number>;
const dp = async (deviceId: number, label: string) => Number((await db.query("SELECT id FROM datapoints WHERE device_id = $1 AND label = $2", [deviceId, label]))[0].id);
const runsOf = async (ruleId: number) => (await A("GET", `/history?rule=${ruleId}`)).body.items as any[];

let uno: number;
let modbus: number;
let forRule: number;
let forRuleFiredAt: number;

beforeAll(async () => {
	await requireServer("nats");
	pg = await createTestDatabase("automation");
	node = await startGatewayNode({
		namespace: ns,
		nodeID: "pi",
		env: { DATABASE_URL: pg.url, TRANSPORTER: NATS_URL, DETECTOR_SOURCE: "simulated", SIMULATE: "0", AUTOMATION_TICK_MS: "100" },
		extra: [DetectorService, ManagerService, ProcessorService, SimulatorService, AutomationService, Listener]
	});
	db = (node.broker.getLocalService("automation") as unknown as { db: Database }).db;
	admin = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
	await waitFor(async () => (await A("GET", "/rules")).status === 200, 15_000, "automation routes");
	uno = await plug("arduino-uno", "uno", "UNO-HOT", { rateHz: 4, lines: ["temperature:35.5,humidity:40"] });
	modbus = await plug("modbus-sensor", "rs485", "FTAUTO1");
});

afterAll(async () => {
	await node?.stop();
	await pg?.drop();
	await deleteNatsStreams(ns).catch(() => undefined);
});

describe("rules", () => {
	it("a rule with for: 3s fires once after 3 s, with a trace, and the command reaches the Modbus device", async () => {
		const created = await A("POST", "/rules", {
			name: "Fan on when hot",
			trigger: { type: "reading", deviceId: uno, datapoint: "temperature", above: 30, hysteresis: 0.5, for: "3s" },
			actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 10, value: 1 } }]
		});
		expect(created.status).toBe(201);
		const rule = created.body;
		forRule = rule.id;
		expect(rule).toMatchObject({ enabled: true, mode: "single", conditions: [], maxRunsPerHour: 60, disabledReason: null });
		expect(rule.trigger).toMatchObject({ datapoint: "temperature", datapointId: await dp(uno, "temperature"), for: "3s" });
		const t0 = Date.now();

		const [run] = await waitFor(async () => {
			const runs = await runsOf(rule.id);
			return runs.length && runs[0].status !== "running" ? runs : null;
		}, 15_000, "the rule's run");
		forRuleFiredAt = Date.now();
		expect(run.status).toBe("succeeded");
		expect(run.deviceId).toBe(uno);
		expect(run.trigger).toMatchObject({ type: "reading", deviceId: uno, value: 35.5 });
		expect(run.trigger.heldMs).toBeGreaterThanOrEqual(3000);
		expect(run.trigger.heldMs).toBeLessThan(4000);
		expect(Date.parse(run.startedAt) - Date.parse(run.trigger.pendingSince)).toBeGreaterThanOrEqual(3000);
		expect(Date.parse(run.startedAt) - t0).toBeGreaterThanOrEqual(2900);
		expect(run.trace.map((s: any) => [s.path, s.step, s.ok])).toEqual([
			["trigger", "trigger", true],
			["actions[0]", "command", true]
		]);
		expect(run.commands).toHaveLength(1);
		expect(run.commands[0]).toMatchObject({ deviceId: modbus, action: "write", status: "succeeded", source: "rule", attempts: 1, nodeID: "pi", idempotencyKey: `run:${run.id}:0` });
		expect((await registers("rs485"))["10"]).toBe(1);

		// The rule's state: disarmed (still above), fired once.
		const after = (await A("GET", `/rules/${rule.id}`)).body;
		expect(after.state).toEqual([expect.objectContaining({ deviceId: uno, armed: false, pendingSince: null })]);
		// Device state, events and live push.
		const state = (await A("GET", `/devices/${modbus}/state`)).body;
		expect(state).toMatchObject({ deviceId: modbus, status: "streaming", nodeID: "pi", pendingCommands: 0, desired: { "register:10": 1 } });
		expect(state.lastCommand.id).toBe(run.commands[0].id);
		await waitFor(() => events.some(e => e.name === "automation.run.finished" && e.params.runId === run.id && e.params.status === "succeeded"), 5000, "run.finished");
		const pushed = events.filter(e => e.name === "live.push").flatMap(e => e.params.messages).filter((m: any) => m.room === `device:${modbus}`);
		expect(pushed.map((m: any) => m.event)).toEqual(expect.arrayContaining(["device.command", "device.state"]));
		expect(pushed.filter((m: any) => m.event === "device.command").map((m: any) => m.data.status)).toEqual(expect.arrayContaining(["queued", "sending", "succeeded"]));
	});
});

describe("the end", () => {
	it("the for: 3s rule still has one run 10 s after it fired", async () => {
		const wait = forRuleFiredAt + 10_000 - Date.now();
		if (wait > 0) await new Promise(r => setTimeout(r, wait));
		expect(await runsOf(forRule)).toHaveLength(1);
	}, 20_000);
});
