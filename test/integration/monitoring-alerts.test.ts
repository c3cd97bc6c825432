/**
 * Alert lifecycle through the real parts: readings published on the `telemetry.readings`
 * channel over NATS JetStream, rules and alerts in PostgreSQL, events on the mesh.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { Client } from "pg";
import MonitoringService from "../../services/monitoring/monitoring.service";
import type { Database } from "../../mixins/db.mixin";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";

type Ev = { name: string; params: any };
/** waitFor treats [] as done: wait for a non-empty list instead. */
const nonEmpty = <T>(a: T[]) => (a.length ? a : null);

describe("monitoring alert lifecycle (PostgreSQL + NATS JetStream)", () => {
	let broker: ServiceBroker;
	let pg: TestDatabase;
	let db: Database;
	const events: Ev[] = [];
	let dev: number;
	let temp: number;
	let rpm: number;
	let ruleId: number;

	const Listener: ServiceSchema = {
		name: "listener",
		events: {
			"alert.*"(ctx: any) {
				events.push({ name: ctx.eventName, params: ctx.params });
			},
			"live.push"(ctx: any) {
				events.push({ name: ctx.eventName, params: ctx.params });
			}
		}
	};

	const send = (readings: { deviceId: number; datapointId: number; value: number; ts: number | string }[]) =>
		broker.sendToChannel("telemetry.readings", { readings });
	const alertsOf = async (params: Record<string, unknown> = {}) =>
		((await broker.call("monitoring.alerts", { device: dev, ...params })) as { items: any[] }).items;

	beforeAll(async () => {
		await requireServer("nats");
		pg = await createTestDatabase("monitoring_alerts");
		const profiles = tempDir("mon-profiles");
		fs.writeFileSync(
			path.join(profiles, "test-fan.yaml"),
			"name: test-fan\ninterface: uart\ndatapoints:\n  - label: rpm\n    unit: rpm\n    alert: { " +
				"below: 500, hysteresis: 50, for: 0, severity: critical }\n  - label: temperature\n    unit: " +
				"°C\n"
		);
		broker = createTestBroker({
			namespace: uniqueNamespace("mon-alerts"),
			env: {
				DATABASE_URL: pg.url,
				TRANSPORTER: NATS_URL,
				OFFLINE_AFTER_S: "2",
				PROFILES_DIR: profiles,
				LIVE_THROTTLE_MS: "50"
			},
			services: [MonitoringService, Listener]
		});
		await broker.start();
		db = (broker.getLocalService("monitoring") as unknown as { db: Database }).db;
		const [d] = await db.query(
			"INSERT INTO devices (uid, name, profile, status, owner) VALUES ('alert-fan', 'Fan unit', " +
				"'test-fan', 'streaming', '5') RETURNING id"
		);
		dev = Number(d.id);
		const [t] = await db.query(
			"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id",
			[dev]
		);
		const [r] = await db.query(
			"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'rpm', 'rpm') RETURNING id",
			[dev]
		);
		temp = Number(t.id);
		rpm = Number(r.id);
	});

	afterAll(async () => {
		await broker?.stop();
		await pg?.drop();
	});

	it("creates a user rule through the action, validated", async () => {
		await expect(
			broker.call("monitoring.createRule", { datapointId: temp, direction: "sideways", threshold: 1 })
		).rejects.toMatchObject({ code: 422 });
		await expect(
			broker.call(
				"monitoring.createRule",
				{ datapointId: temp, direction: "above", threshold: 30 },
				{ meta: { user: { id: 6, is_admin: false } } }
			)
		).rejects.toMatchObject({ code: 404 });
		const rule: any = await broker.call(
			"monitoring.createRule",
			{
				datapointId: temp,
				direction: "above",
				threshold: "30",
				hysteresis: 2,
				minDurationS: 2,
				severity: "critical"
			},
			{ meta: { user: { id: 5, email: "owner@example.com", is_admin: false } } }
		);
		expect(rule).toMatchObject({
			deviceId: dev,
			datapoint: "temperature",
			unit: "°C",
			threshold: 30,
			hysteresis: 2,
			minDurationS: 2,
			source: "user"
		});
		ruleId = rule.id;
	});

	it("raises only after the minimum duration, once, with label and unit in the message", async () => {
		const t0 = Date.now();
		await send([{ deviceId: dev, datapointId: temp, value: 31, ts: t0 }]);
		await send([{ deviceId: dev, datapointId: temp, value: 32, ts: t0 + 1000 }]);
		// The channel is processed in order; give it a moment, then no alert yet (1 s < 2 s).
		await waitFor(
			async () => (await db.query("SELECT 1 FROM monitoring_devices WHERE device_id = $1", [dev])).length,
			10_000,
			"readings processed"
		);
		await new Promise(r => setTimeout(r, 300));
		expect((await alertsOf({ status: "open" })).filter(a => a.kind === "threshold")).toHaveLength(0);

		await send([{ deviceId: dev, datapointId: temp, value: 33.5, ts: t0 + 2500 }]);
		const [alert] = await waitFor(
			async () => nonEmpty((await alertsOf({ status: "open" })).filter(a => a.kind === "threshold")),
			10_000,
			"threshold alert"
		);
		expect(alert).toMatchObject({
			ruleId,
			severity: "critical",
			datapoint: "temperature",
			unit: "°C",
			value: 33.5,
			open: true
		});
		expect(alert.message).toBe("Fan unit: temperature 33.5 °C is above 30 °C");

		// Still above: no second alert, no second event.
		await send([
			{ deviceId: dev, datapointId: temp, value: 40, ts: t0 + 3000 },
			{ deviceId: dev, datapointId: temp, value: 41, ts: t0 + 6000 }
		]);
		// inside the hysteresis band: stays open
		await send([{ deviceId: dev, datapointId: temp, value: 29, ts: t0 + 7000 }]);
		await new Promise(r => setTimeout(r, 500));
		expect((await alertsOf({ status: "all" })).filter(a => a.kind === "threshold")).toHaveLength(1);
		expect((await alertsOf({ status: "open" })).filter(a => a.kind === "threshold")).toHaveLength(1);
		const raised = events.filter(e => e.name === "alert.raised" && e.params.datapoint === "temperature");
		expect(raised).toHaveLength(1);
		expect(raised[0].params).toMatchObject({
			alertId: alert.id,
			deviceId: dev,
			severity: "critical",
			message: alert.message
		});
		// Pushed live to the alerts room and the device's room.
		const rooms = events
			.filter(e => e.name === "live.push")
			.flatMap(e => e.params.messages)
			.filter((m: any) => m.event === "alert")
			.map((m: any) => m.room);
		expect(rooms).toEqual(expect.arrayContaining(["alerts", `device:${dev}`]));
	});

	it("clears past the hysteresis and raises anew on the next crossing", async () => {
		const t0 = Date.now() + 60_000;
		await send([{ deviceId: dev, datapointId: temp, value: 27.9, ts: t0 }]);
		const cleared = await waitFor(
			() => events.find(e => e.name === "alert.cleared" && e.params.datapoint === "temperature"),
			10_000,
			"alert.cleared"
		);
		const [alert] = (await alertsOf({ status: "cleared" })).filter(a => a.kind === "threshold");
		expect(alert.id).toBe(cleared.params.alertId);
		expect(alert.clearedAt).not.toBeNull();
		await send([
			{ deviceId: dev, datapointId: temp, value: 35, ts: t0 + 1000 },
			{ deviceId: dev, datapointId: temp, value: 35, ts: t0 + 3500 }
		]);
		await waitFor(
			async () => (await alertsOf({ status: "open" })).filter(a => a.kind === "threshold").length === 1,
			10_000,
			"second alert"
		);
		expect((await alertsOf({ status: "all" })).filter(a => a.kind === "threshold")).toHaveLength(2);
	});

	it("acknowledges an alert once, emits alert.acknowledged, hides foreign alerts", async () => {
		const [open] = (await alertsOf({ status: "open" })).filter(a => a.kind === "threshold");
		await expect(
			broker.call(
				"monitoring.ack",
				{ id: open.id },
				{ meta: { user: { id: 6, email: "intruder@example.com", is_admin: false } } }
			)
		).rejects.toMatchObject({ code: 404 });
		const acked: any = await broker.call(
			"monitoring.ack",
			{ id: String(open.id) },
			{ meta: { user: { id: 5, email: "owner@example.com", is_admin: false } } }
		);
		expect(acked).toMatchObject({ id: open.id, acknowledgedBy: "owner@example.com" });
		expect(acked.acknowledgedAt).toBeTruthy();
		const again: any = await broker.call(
			"monitoring.ack",
			{ id: open.id },
			{ meta: { user: { id: 1, email: "admin@example.com", is_admin: true } } }
		);
		expect(again.acknowledgedBy).toBe("owner@example.com");
		await waitFor(
			() => events.filter(e => e.name === "alert.acknowledged").length === 1,
			5000,
			"alert.acknowledged"
		);
		await new Promise(r => setTimeout(r, 200));
		expect(events.filter(e => e.name === "alert.acknowledged")).toHaveLength(1);
		await expect(broker.call("monitoring.ack", { id: 999_999 })).rejects.toMatchObject({ code: 404 });
	});

	it("seeds rules from the device profile and raises on them", async () => {
		await send([{ deviceId: dev, datapointId: rpm, value: 400, ts: Date.now() }]);
		const [alert] = await waitFor(
			async () => nonEmpty((await alertsOf({ status: "open" })).filter(a => a.datapoint === "rpm")),
			10_000,
			"profile rule alert"
		);
		expect(alert).toMatchObject({ severity: "critical", message: "Fan unit: rpm 400 rpm is below 500 rpm" });
		const rules: any[] = ((await broker.call("monitoring.rules", { device: dev })) as { items: any[] }).items;
		expect(rules.find(r => r.datapoint === "rpm")).toMatchObject({
			source: "profile",
			direction: "below",
			threshold: 500,
			hysteresis: 50
		});
	});

	it("raises an offline alert when the device falls silent and clears it when it reports again", async () => {
		const offline = await waitFor(
			async () => (await alertsOf({ status: "open" })).find(a => a.kind === "offline"),
			15_000,
			"offline alert"
		);
		expect(offline.message).toMatch(/^Fan unit has not reported for \d+ s$/);
		await new Promise(r => setTimeout(r, 3000));
		// Still one open offline alert, however many checks ran.
		expect((await alertsOf({ status: "all" })).filter(a => a.kind === "offline")).toHaveLength(1);
		await send([{ deviceId: dev, datapointId: rpm, value: 450, ts: Date.now() }]);
		await waitFor(
			async () => !(await alertsOf({ status: "open" })).some(a => a.kind === "offline"),
			10_000,
			"offline cleared"
		);
	});

	it("deleting a rule clears its open alert and keeps its history", async () => {
		const res: any = await broker.call("monitoring.deleteRule", { id: ruleId });
		expect(res.clearedAlerts).toHaveLength(1);
		const all = (await alertsOf({ status: "all" })).filter(a => a.datapoint === "temperature");
		expect(all).toHaveLength(2);
		expect(all.every(a => !a.open)).toBe(true);
		await send([{ deviceId: dev, datapointId: temp, value: 80, ts: Date.now() + 120_000 }]);
		await new Promise(r => setTimeout(r, 500));
		expect((await alertsOf({ status: "open" })).filter(a => a.datapoint === "temperature")).toHaveLength(0);
	});

	it("disables a profile rule instead of deleting it, so it is not seeded again", async () => {
		const rules: any[] = ((await broker.call("monitoring.rules", { device: dev })) as { items: any[] }).items;
		const fromProfile = rules.find(r => r.source === "profile");
		const res: any = await broker.call("monitoring.deleteRule", { id: fromProfile.id });
		expect(res).toMatchObject({ deleted: false, disabled: true });
		const after: any[] = ((await broker.call("monitoring.rules", { device: dev })) as { items: any[] }).items;
		expect(after.filter(r => r.source === "profile")).toEqual([
			expect.objectContaining({ id: fromProfile.id, enabled: false })
		]);
		await send([{ deviceId: dev, datapointId: rpm, value: 10, ts: Date.now() }]);
		await new Promise(r => setTimeout(r, 500));
		expect((await alertsOf({ status: "open" })).filter(a => a.datapoint === "rpm")).toHaveLength(0);
	});

	it("ignores malformed readings in a batch without losing the good ones", async () => {
		const before = Number(
			(
				await db.query("SELECT last_seen FROM monitoring_devices WHERE device_id = $1", [dev])
			)[0].last_seen.getTime()
		);
		await broker.sendToChannel("telemetry.readings", {
			readings: [
				{ deviceId: "x" },
				null,
				{ deviceId: dev, datapointId: rpm, value: 900, ts: "not a time" },
				{ deviceId: dev, datapointId: rpm, value: 900, ts: Date.now() }
			]
		});
		await waitFor(
			async () =>
				Number(
					(
						await db.query("SELECT last_seen FROM monitoring_devices WHERE device_id = $1", [dev])
					)[0].last_seen.getTime()
				) > before,
			10_000,
			"good reading processed"
		);
		await broker.sendToChannel("telemetry.readings", { hello: "world" });
		const svc = broker.getLocalService("monitoring") as unknown as { counters: { invalid: number } };
		await waitFor(() => svc.counters.invalid >= 4, 10_000, "invalid counted");
	});

	it("after a restart gives silent devices one interval before calling them offline", async () => {
		await broker.stop();
		const c = new Client({ connectionString: pg.url });
		await c.connect();
		const {
			rows: [d]
		} = await c.query(
			"INSERT INTO devices (uid, name, status) VALUES ('long-silent', 'Long silent', 'streaming') RETURNING id"
		);
		await c.query("INSERT INTO monitoring_devices (device_id, last_seen) VALUES ($1, now() - interval '1 hour')", [
			d.id
		]);
		await c.end();
		broker = createTestBroker({
			namespace: uniqueNamespace("mon-alerts-restart"),
			env: { DATABASE_URL: pg.url, OFFLINE_AFTER_S: "2", PROFILES_DIR: tempDir("np") },
			services: [MonitoringService]
		});
		await broker.start();
		const offlineFor = async () =>
			(
				(await broker.call("monitoring.alerts", { device: d.id, status: "open" })) as { items: any[] }
			).items.filter(a => a.kind === "offline");
		await new Promise(r => setTimeout(r, 1000));
		expect(await offlineFor()).toHaveLength(0);
		const [alert] = await waitFor(
			async () => nonEmpty(await offlineFor()),
			10_000,
			"offline alert after the grace interval"
		);
		// The message tells the real silence, not the time since the restart.
		expect(alert.message).toBe("Long silent has not reported for 60 min");
	});
});
