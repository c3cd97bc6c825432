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

const A = (method: string, path: string, body?: unknown, token: string | null = admin) =>
	api(node.url, method, `/api/automation${path}`, body, token);

async function plug(kind: string, id: string, serial: string, extra: Record<string, unknown> = {}) {
	await node.broker.call("simulator.plug", { kind, id, serial, ...extra });
	return waitFor(
		async () => {
			const [d] = await db.query("SELECT id, status FROM devices WHERE serial = $1", [serial]);
			return d?.status === "streaming" ? Number(d.id) : null;
		},
		20_000,
		`${id} streaming`
	);
}
const registers = async (id: string) =>
	((await node.broker.call<any[], any>("simulator.devices", {})).find(d => d.id === id)?.registers ?? {}) as Record<
		string,
		number
	>;
const dp = async (deviceId: number, label: string) =>
	Number((await db.query("SELECT id FROM datapoints WHERE device_id = $1 AND label = $2", [deviceId, label]))[0].id);
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
		env: {
			DATABASE_URL: pg.url,
			TRANSPORTER: NATS_URL,
			DETECTOR_SOURCE: "simulated",
			SIMULATE: "0",
			AUTOMATION_TICK_MS: "100"
		},
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
	it("a rule with for: 3s fires once after 3 s, with a trace; the command reaches the Modbus device", async () => {
		const created = await A("POST", "/rules", {
			name: "Fan on when hot",
			trigger: {
				type: "reading",
				deviceId: uno,
				datapoint: "temperature",
				above: 30,
				hysteresis: 0.5,
				for: "3s"
			},
			actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 10, value: 1 } }]
		});
		expect(created.status).toBe(201);
		const rule = created.body;
		forRule = rule.id;
		expect(rule).toMatchObject({
			enabled: true,
			mode: "single",
			conditions: [],
			maxRunsPerHour: 60,
			disabledReason: null
		});
		expect(rule.trigger).toMatchObject({
			datapoint: "temperature",
			datapointId: await dp(uno, "temperature"),
			for: "3s"
		});
		const t0 = Date.now();

		const [run] = await waitFor(
			async () => {
				const runs = await runsOf(rule.id);
				return runs.length && runs[0].status !== "running" ? runs : null;
			},
			15_000,
			"the rule's run"
		);
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
		expect(run.commands[0]).toMatchObject({
			deviceId: modbus,
			action: "write",
			status: "succeeded",
			source: "rule",
			attempts: 1,
			nodeID: "pi",
			idempotencyKey: `run:${run.id}:0`
		});
		expect((await registers("rs485"))["10"]).toBe(1);

		// The rule's state: disarmed (still above), fired once.
		const after = (await A("GET", `/rules/${rule.id}`)).body;
		expect(after.state).toEqual([expect.objectContaining({ deviceId: uno, armed: false, pendingSince: null })]);
		// Device state, events and live push.
		const state = (await A("GET", `/devices/${modbus}/state`)).body;
		expect(state).toMatchObject({
			deviceId: modbus,
			status: "streaming",
			nodeID: "pi",
			pendingCommands: 0,
			desired: { "register:10": 1 }
		});
		expect(state.lastCommand.id).toBe(run.commands[0].id);
		await waitFor(
			() =>
				events.some(
					e =>
						e.name === "automation.run.finished" &&
						e.params.runId === run.id &&
						e.params.status === "succeeded"
				),
			5000,
			"run.finished"
		);
		const pushed = events
			.filter(e => e.name === "live.push")
			.flatMap(e => e.params.messages)
			.filter((m: any) => m.room === `device:${modbus}`);
		expect(pushed.map((m: any) => m.event)).toEqual(expect.arrayContaining(["device.command", "device.state"]));
		expect(pushed.filter((m: any) => m.event === "device.command").map((m: any) => m.data.status)).toEqual(
			expect.arrayContaining(["queued", "sending", "succeeded"])
		);
	});
});

describe("commands", () => {
	it("an offline device keeps a command queued: a 3 s TTL expires, a 2 min one arrives on replug", async () => {
		const off = await plug("modbus-sensor", "rs485-off", "FTAUTO-OFF");
		await node.broker.call("simulator.unplug", { id: "rs485-off" });
		await waitFor(
			async () =>
				(await db.query("SELECT status FROM devices WHERE id = $1", [off]))[0].status === "disconnected",
			10_000,
			"disconnected"
		);

		const short = await A("POST", `/devices/${off}/command`, {
			action: "write",
			params: { register: 7, value: 3 },
			ttl: "3s"
		});
		expect(short.status).toBe(202);
		expect(short.body).toMatchObject({ status: "queued", ttl: "3s", attempts: 0, source: "manual" });
		const long = await A("POST", `/devices/${off}/command`, {
			action: "write",
			params: { register: 8, value: 4 },
			ttl: "2m"
		});
		expect(long.status).toBe(202);
		expect((await A("GET", `/devices/${off}/state`)).body).toMatchObject({
			status: "disconnected",
			pendingCommands: 2
		});

		const expired = await waitFor(
			async () => {
				const c = (await A("GET", `/commands/${short.body.id}`)).body;
				return c.status === "expired" ? c : null;
			},
			8000,
			"the 3 s command expired"
		);
		expect(expired.attempts).toBe(0);
		expect(Date.parse(expired.finishedAt) - Date.parse(short.body.createdAt)).toBeGreaterThanOrEqual(3000);
		expect((await A("GET", `/commands/${long.body.id}`)).body.status).toBe("queued");

		// Plugged back in (same serial: same device id): the queued command goes out once.
		expect(await plug("modbus-sensor", "rs485-off", "FTAUTO-OFF")).toBe(off);
		const done = await waitFor(
			async () => {
				const c = (await A("GET", `/commands/${long.body.id}`)).body;
				return c.status === "succeeded" ? c : null;
			},
			15_000,
			"the 2 min command delivered"
		);
		expect(done.attempts).toBe(1);
		expect((await registers("rs485-off"))["8"]).toBe(4);
		expect((await registers("rs485-off"))["7"]).toBeUndefined();
		// Its history entry ends with it.
		const entry = await waitFor(
			async () => {
				const items = (await A("GET", `/history?source=manual&device=${off}`)).body.items.filter(
					(h: any) => h.commands[0]?.id === long.body.id
				);
				return items[0]?.status === "succeeded" ? items[0] : null;
			},
			5000,
			"the manual run finished"
		);
		expect(entry).toMatchObject({ status: "succeeded", deviceId: off });
		const cancel = await A("DELETE", `/commands/${long.body.id}`);
		expect(cancel.status).toBe(409);
	});

	it("idempotency: the same key and body answer the first command, another body is 409", async () => {
		const body = { action: "write", params: { register: 11, value: 5 }, idempotencyKey: "k-1", wait: 5000 };
		const first = await A("POST", `/devices/${modbus}/command`, body);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({ status: "succeeded", idempotencyKey: "k-1" });
		const again = await A("POST", `/devices/${modbus}/command`, body);
		expect(again.status).toBe(200);
		expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
		const other = await A("POST", `/devices/${modbus}/command`, { ...body, params: { register: 11, value: 6 } });
		expect(other.status).toBe(409);
		expect(other.body.data.field).toBe("idempotencyKey");
		expect(
			(await db.query("SELECT count(*)::int AS n FROM automation_commands WHERE idempotency_key = 'k-1'"))[0].n
		).toBe(1);
		expect((await registers("rs485"))["11"]).toBe(5);
	});
});

describe("access and validation", () => {
	let alice: string;
	let aliceDevice: number;

	beforeAll(async () => {
		const password = "Orchid-lantern-5512";
		const reg = await api(node.url, "POST", "/api/users/add", { email: "alice@example.com", password });
		alice = await login(node.url, "alice@example.com", password);
		[{ id: aliceDevice }] = await db.query(
			"INSERT INTO devices (uid, name, owner, status) VALUES ('alice-1', 'Alice board', $1, " +
				"'disconnected') RETURNING id",
			[reg.body.id]
		);
		await db.query("INSERT INTO datapoints (device_id, label) VALUES ($1, 'temperature')", [aliceDevice]);
	});

	it("401 without a token", async () => {
		for (const [m, p] of [
			["GET", "/rules"],
			["POST", "/rules"],
			["GET", "/history"],
			["POST", `/devices/${modbus}/command`],
			["POST", "/schedules/preview"]
		]) {
			expect((await A(m, p, m === "POST" ? {} : undefined, null)).status).toBe(401);
		}
	});

	it("a user cannot reference or see a device it does not own", async () => {
		const rule = (deviceId: number, target: number) => ({
			name: "x",
			trigger: { type: "reading", deviceId, datapoint: "temperature", above: 1 },
			actions: [{ type: "command", deviceId: target, action: "close" }]
		});
		const foreign = await A("POST", "/rules", rule(uno, aliceDevice), alice);
		expect(foreign.status).toBe(422);
		expect(foreign.body.data.field).toBe("trigger.deviceId");
		const foreignTarget = await A("POST", "/rules", rule(aliceDevice, modbus), alice);
		expect(foreignTarget.body.data.field).toBe("actions[0].deviceId");
		expect((await A("POST", `/devices/${modbus}/command`, { action: "close" }, alice)).status).toBe(404);
		expect((await A("GET", `/devices/${modbus}/state`, undefined, alice)).status).toBe(404);
		expect((await A("GET", `/rules/${forRule}`, undefined, alice)).status).toBe(404);
		expect((await A("GET", "/history", undefined, alice)).body.items).toEqual([]);
		const own = await A("POST", "/rules", { ...rule(aliceDevice, aliceDevice), enabled: false }, alice);
		expect(own.status).toBe(201);
		expect((await A("GET", "/rules", undefined, alice)).body.items.map((r: any) => r.id)).toEqual([own.body.id]);
		expect((await A("GET", `/rules/${own.body.id}`)).status).toBe(200); // admins see all
	});

	it("each 422 names its field", async () => {
		const trigger = { type: "reading", deviceId: uno, datapoint: "temperature", above: 30 };
		const actions = [{ type: "command", deviceId: modbus, action: "write", params: { register: 1, value: 1 } }];
		const cases: Array<[string, unknown, string]> = [
			["/rules", { name: "r", trigger: { ...trigger, deviceId: 999_999 }, actions }, "trigger.deviceId"],
			["/rules", { name: "r", trigger: { ...trigger, datapoint: "nope" }, actions }, "trigger.datapoint"],
			["/rules", { name: "r", trigger: { ...trigger, above: null }, actions }, "trigger.above"],
			["/rules", { name: "r", trigger: { ...trigger, for: "soon" }, actions }, "trigger.for"],
			["/rules", { name: "r", trigger: { ...trigger, for: "8d" }, actions }, "trigger.for"],
			["/rules", { name: "r", trigger: { ...trigger, type: "weather" }, actions }, "trigger.type"],
			["/rules", { name: "r", trigger, mode: "sometimes", actions }, "mode"],
			["/rules", { name: "r", trigger, actions: [] }, "actions"],
			["/rules", { name: "r", trigger, actions: Array(21).fill(actions[0]) }, "actions"],
			["/rules", { name: "r", trigger, actions: [{ ...actions[0], action: "reboot" }] }, "actions[0].action"],
			["/rules", { name: "r", trigger, actions: [{ ...actions[0], params: {} }] }, "actions[0].params.line"],
			["/rules", { name: "r", trigger, actions: [{ ...actions[0], ttl: "0s" }] }, "actions[0].ttl"],
			["/rules", { name: "r", trigger, actions: [{ type: "wait", for: "1s" }] }, "actions[0].type"],
			["/rules", { name: "r", trigger, actions: [{ ...actions[0], deviceId: 999_999 }] }, "actions[0].deviceId"],
			["/rules", { name: "r", trigger, conditions: [{ type: "moon" }], actions }, "conditions[0].type"],
			[
				"/rules",
				{
					name: "r",
					trigger,
					conditions: [{ type: "reading", deviceId: 999_999, datapoint: "x", below: 1 }],
					actions
				},
				"conditions[0].deviceId"
			],
			[
				"/rules",
				{ name: "r", trigger, conditions: [{ type: "time", after: "7am" }], actions },
				"conditions[0].after"
			],
			[
				"/rules",
				{
					name: "r",
					trigger,
					conditions: [{ type: "time", after: "07:00", timezone: "Mars/Olympus" }],
					actions
				},
				"conditions[0].timezone"
			],
			["/schedules", { name: "s", cron: "bad cron", actions }, "cron"],
			["/schedules", { name: "s", cron: "* * * * *", interval: "1m", actions }, "interval"],
			["/schedules", { name: "s", actions }, "cron"],
			["/schedules", { name: "s", interval: "500ms", actions }, "interval"],
			["/schedules", { name: "s", cron: "* * * * *", timezone: "Mars/Olympus", actions }, "timezone"],
			["/schedules/preview", { cron: "* * * * *", count: 51 }, "count"],
			[`/devices/${modbus}/command`, { action: "write", params: { line: "x".repeat(4097) } }, "params.line"],
			[
				`/devices/${modbus}/command`,
				{ action: "write", params: { register: 70_000, value: 1 } },
				"params.register"
			]
		];
		for (const [path, body, field] of cases) {
			const r = await A("POST", path, body);
			expect({ path, field, status: r.status, got: r.body?.data?.field }).toEqual({
				path,
				field,
				status: 422,
				got: field
			});
		}
	});
});

describe("schedules", () => {
	it("previews DST in Europe/Berlin: a skipped hour runs once at the next valid time, a repeated once", async () => {
		const spring = await A("POST", "/schedules/preview", {
			cron: "30 2 * * *",
			timezone: "Europe/Berlin",
			from: "2027-03-27T12:00:00Z",
			count: 2
		});
		expect(spring.body.runs).toEqual(["2027-03-28T01:00:00.000Z", "2027-03-29T00:30:00.000Z"]);
		const autumn = await A("POST", "/schedules/preview", {
			cron: "30 2 * * *",
			timezone: "Europe/Berlin",
			from: "2027-10-30T12:00:00Z",
			count: 2
		});
		expect(autumn.body.runs).toEqual(["2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"]);
		// An hour step runs through both 02:xx hours of the autumn night.
		const steps = await A("POST", "/schedules/preview", {
			cron: "*/30 * * * *",
			timezone: "Europe/Berlin",
			from: "2027-10-31T00:00:00Z",
			count: 4
		});
		expect(steps.body.runs).toEqual([
			"2027-10-31T00:30:00.000Z",
			"2027-10-31T01:00:00.000Z",
			"2027-10-31T01:30:00.000Z",
			"2027-10-31T02:00:00.000Z"
		]);
		const iv = await A("POST", "/schedules/preview", { interval: "90s", from: "2027-01-01T00:00:00Z", count: 3 });
		expect(iv.body.runs).toEqual([
			"2027-01-01T00:01:30.000Z",
			"2027-01-01T00:03:00.000Z",
			"2027-01-01T00:04:30.000Z"
		]);
	});

	it("an interval runs at exact spacing without duplicates", async () => {
		const s = (
			await A("POST", "/schedules", {
				name: "tick",
				interval: "1s",
				actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 20, value: 1 } }]
			})
		).body;
		expect(s).toMatchObject({ interval: "1s", cron: null, misfire: "run_once", mode: "single" });
		const runs = await waitFor(
			async () => {
				const items = (await A("GET", `/history?schedule=${s.id}`)).body.items;
				return items.filter((r: any) => r.status === "succeeded").length >= 4 ? items : null;
			},
			15_000,
			"four runs"
		);
		await A("PUT", `/schedules/${s.id}`, { enabled: false });
		const times = runs.map((r: any) => Date.parse(r.scheduledFor)).sort((a: number, b: number) => a - b);
		expect(new Set(times).size).toBe(times.length);
		for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(1000);
		expect((times[0] - Date.parse(s.createdAt)) % 1000).toBe(0);
		expect(runs.every((r: any) => !r.misfired && r.commands.length === 1)).toBe(true);
	});

	it("a cron with a time zone runs at its time there", async () => {
		const at = new Date(Math.ceil((Date.now() + 2500) / 1000) * 1000);
		const berlin = Object.fromEntries(
			new Intl.DateTimeFormat("en-GB", {
				timeZone: "Europe/Berlin",
				hour: "2-digit",
				minute: "2-digit",
				second: "2-digit",
				hourCycle: "h23"
			})
				.formatToParts(at)
				.map(p => [p.type, p.value])
		);
		const cron = `${Number(berlin.second)} ${Number(berlin.minute)} ${Number(berlin.hour)} * * *`;
		const s = (
			await A("POST", "/schedules", {
				name: "berlin",
				cron,
				timezone: "Europe/Berlin",
				actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 21, value: 2 } }]
			})
		).body;
		expect(s.nextRunAt).toBe(at.toISOString());
		const [run] = await waitFor(
			async () => {
				const items = (await A("GET", `/history?schedule=${s.id}`)).body.items;
				return items.length && items[0].status === "succeeded" ? items : null;
			},
			10_000,
			"the cron run"
		);
		expect(run.scheduledFor).toBe(at.toISOString());
		expect(Date.parse(run.startedAt) - at.getTime()).toBeLessThan(1000);
		expect((await registers("rs485"))["21"]).toBe(2);
		expect(Date.parse((await A("GET", `/schedules/${s.id}`)).body.nextRunAt) - at.getTime()).toBe(86_400_000);
	});
});

describe("loops and simulation", () => {
	it("two rules that trigger each other are suppressed and disabled with disabledReason: loop", async () => {
		const mx = await plug("modbus-sensor", "mx", "FTLOOPX");
		const my = await plug("modbus-sensor", "my", "FTLOOPY");
		const hx = await dp(mx, "humidity");
		const hy = await dp(my, "humidity");
		// The devices' response to a command (its reading crossing the threshold) is emulated:
		// each succeeded command on mx/my is followed by a humidity crossing on that device.
		const respond = (deviceId: number, datapointId: number) =>
			node.broker.sendToChannel("telemetry.readings", {
				readings: [
					{ deviceId, datapointId, value: 40, ts: Date.now() },
					{ deviceId, datapointId, value: 60, ts: Date.now() + 1 }
				]
			});
		const seen = new Set<number>();
		const responder = setInterval(() => {
			for (const e of events) {
				if (
					e.name !== "automation.command.changed" ||
					e.params.status !== "succeeded" ||
					seen.has(e.params.commandId)
				)
					continue;
				seen.add(e.params.commandId);
				if (e.params.deviceId === mx) void respond(mx, hx);
				if (e.params.deviceId === my) void respond(my, hy);
			}
		}, 50);
		try {
			const mk = async (name: string, from: number, to: number) =>
				(
					await A("POST", "/rules", {
						name,
						trigger: { type: "reading", deviceId: from, datapoint: "humidity", above: 50 },
						actions: [
							{ type: "command", deviceId: to, action: "write", params: { register: 30, value: 1 } }
						]
					})
				).body.id as number;
			const a = await mk("x → y", mx, my);
			const b = await mk("y → x", my, mx);
			// Each kick is one crossing on mx from outside; the chain it starts comes back to its first rule.
			for (let kick = 0; kick < 6; kick++) {
				const [ra, rb] = [(await A("GET", `/rules/${a}`)).body, (await A("GET", `/rules/${b}`)).body];
				if (!ra.enabled || !rb.enabled) break;
				const before = (await A("GET", "/history?status=suppressed")).body.items.length;
				await respond(mx, hx);
				await waitFor(
					async () => (await A("GET", "/history?status=suppressed")).body.items.length > before,
					15_000,
					`a suppressed run after kick ${kick}`
				);
			}
			const rules = [(await A("GET", `/rules/${a}`)).body, (await A("GET", `/rules/${b}`)).body];
			const disabled = rules.filter(r => !r.enabled);
			expect(disabled).toHaveLength(1);
			expect(disabled[0].disabledReason).toBe("loop");
			const suppressed = (await A("GET", `/history?rule=${disabled[0].id}&status=suppressed`)).body.items;
			expect(suppressed.length).toBe(3);
			const guard = suppressed[0].trace.find((s: any) => s.step === "guard");
			expect(guard).toMatchObject({ ok: false, detail: { reason: "loop" } });
			expect(suppressed[0].causedBy).toMatchObject({
				depth: expect.any(Number),
				ruleId: rules.find(r => r.id !== disabled[0].id).id
			});
			expect(suppressed.every((r: any) => r.commands.length === 0)).toBe(true);
		} finally {
			clearInterval(responder);
		}
	}, 60_000);

	it("simulates a rule over stored readings without sending or storing anything", async () => {
		const t = await dp(uno, "humidity");
		const base = Date.parse("2026-11-01T10:00:00Z");
		const values = [10, 25, 26, 27, 10, 30, 31, 5];
		for (const [i, v] of values.entries())
			await db.query(
				"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4)",
				[new Date(base + i * 1000), uno, t, v]
			);
		const r = (
			await A("POST", "/rules", {
				name: "sim",
				enabled: false,
				trigger: { type: "reading", deviceId: uno, datapoint: t, above: 20, for: "2s" },
				actions: [{ type: "command", deviceId: modbus, action: "write", params: { register: 40, value: 1 } }]
			})
		).body;
		const runsBefore = (await db.query("SELECT count(*)::int AS n FROM automation_runs"))[0].n;
		const sim = await A("POST", `/rules/${r.id}/simulate`, {
			from: new Date(base - 1000).toISOString(),
			to: new Date(base + 20_000).toISOString()
		});
		expect(sim.status).toBe(200);
		// 25 at +1 s held to +3 s (27): fires at the reading; 30 at +5 s held to +7 s by the timer (31 at +6 s is too
		// early, 5 at +7 s ends it… after the timer).
		expect(sim.body.runs.map((x: any) => [x.status, x.trigger.pendingSince, x.trigger.heldMs])).toEqual([
			["simulated", new Date(base + 1000).toISOString(), 2000],
			["simulated", new Date(base + 5000).toISOString(), 2000]
		]);
		expect(sim.body.runs[0].trace.map((s: any) => s.step)).toEqual(["trigger", "command"]);
		expect((await db.query("SELECT count(*)::int AS n FROM automation_runs"))[0].n).toBe(runsBefore);
		const bad = await A("POST", `/rules/${r.id}/simulate`, { from: "-8d" });
		expect(bad.status).toBe(422);
		expect(bad.body.data.field).toBe("to");
	});
});

describe("modes and delays", () => {
	/** `light`: a datapoint of the Uno's profile its script does not print, so only these readings reach it. */
	const pulse = async (value: number) =>
		node.broker.sendToChannel("telemetry.readings", {
			readings: [{ deviceId: uno, datapointId: await dp(uno, "light"), value, ts: Date.now() }]
		});
	const cross = async () => {
		await pulse(0);
		await new Promise(r => setTimeout(r, 100));
		await pulse(500);
	};
	const mk = async (mode: string, register: number) =>
		(
			await A("POST", "/rules", {
				name: `mode ${mode}`,
				mode,
				trigger: { type: "reading", deviceId: uno, datapoint: "light", above: 100 },
				actions: [
					{ type: "command", deviceId: modbus, action: "write", params: { register, value: 1 } },
					{ type: "delay", for: "1500ms" },
					{ type: "command", deviceId: modbus, action: "write", params: { register, value: 2 } }
				]
			})
		).body.id as number;

	it("single: a trigger in a delay is ignored, counted in the running run's trace; the delay goes on", async () => {
		const id = await mk("single", 50);
		await cross();
		await waitFor(async () => (await runsOf(id))[0]?.status === "waiting", 5000, "the run waits in its delay");
		await cross();
		const [run] = await waitFor(
			async () => {
				const runs = await runsOf(id);
				return runs.length && runs[0].status === "succeeded" ? runs : null;
			},
			8000,
			"the run finished after its delay"
		);
		expect(await runsOf(id)).toHaveLength(1);
		expect(run.trace.map((s: any) => s.step)).toEqual(["trigger", "command", "delay", "ignored", "command"]);
		expect(run.commands.map((c: any) => c.params.value)).toEqual([1, 2]);
		expect((await registers("rs485"))["50"]).toBe(2);
		await A("PUT", `/rules/${id}`, { enabled: false });
	});

	it("restart: a trigger during a delay cancels the running run and starts a new one", async () => {
		const id = await mk("restart", 51);
		await cross();
		await waitFor(async () => (await runsOf(id))[0]?.status === "waiting", 5000, "the first run waits");
		await cross();
		const runs = await waitFor(
			async () => {
				const r = await runsOf(id);
				return r.length === 2 && r[0].status === "succeeded" ? r : null;
			},
			8000,
			"the second run finished"
		);
		expect(runs[1].status).toBe("cancelled");
		expect(runs[1].trace.map((s: any) => s.step)).toEqual(["trigger", "command", "delay", "restarted"]);
		expect(runs[1].commands).toHaveLength(1);
		expect(runs[0].commands).toHaveLength(2);
		await A("PUT", `/rules/${id}`, { enabled: false });
	});
});

describe("the end", () => {
	it("the for: 3s rule still has one run 10 s after it fired", async () => {
		const wait = forRuleFiredAt + 10_000 - Date.now();
		if (wait > 0) await new Promise(r => setTimeout(r, wait));
		expect(await runsOf(forRule)).toHaveLength(1);
	}, 20_000);
});
