/**
 * A node that stops cleanly: its devices are `disconnected` at once on the manager of another
 * node (over real NATS, PostgreSQL), and monitoring raises no offline alert for the planned
 * stop, while a device that just goes silent on a live node does get one.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import type { Database } from "../../mixins/db.mixin";
import ManagerService from "../../services/manager/manager.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteNatsStreams } from "../helpers/cleanup";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { NATS_URL, requireServer } from "../helpers/servers";

const namespace = uniqueNamespace("trust-id");
let pg: TestDatabase;
let core: ServiceBroker;
let edge: ServiceBroker;
let db: Database;

beforeAll(async () => {
	await requireServer("nats");
	pg = await createTestDatabase("trust_identity");
	const env = { DATABASE_URL: pg.url, TRANSPORTER: NATS_URL, OFFLINE_AFTER_S: "1" };
	core = createTestBroker({ namespace, nodeID: "core", env, services: [ManagerService, MonitoringService] });
	edge = createTestBroker({
		namespace,
		nodeID: "edge",
		env: { TRANSPORTER: NATS_URL },
		services: [{ name: "edge-probe", actions: { hi: () => "hi" } }]
	});
	await core.start();
	await edge.start();
	await core.waitForServices("edge-probe", 10_000);
	db = (core.getLocalService("manager") as unknown as { db: Database }).db;
}, 60_000);

afterAll(async () => {
	await edge?.stop().catch(() => undefined);
	await core?.stop();
	await deleteNatsStreams(namespace).catch(() => undefined);
	await pg?.drop();
});

describe("devices of a node that stopped", () => {
	it("are disconnected at once and raise no offline alert; a silent device on a live node does", async () => {
		const [onEdge] = await db.query<{ id: number }>(
			"INSERT INTO devices (uid, name, status, node_id) VALUES ('edge-board', 'Edge board', " +
				"'streaming', 'edge') RETURNING id"
		);
		const [onCore] = await db.query<{ id: number }>(
			"INSERT INTO devices (uid, name, status, node_id) VALUES ('core-board', 'Core board', " +
				"'streaming', 'core') RETURNING id"
		);
		const dps = await db.query<{ id: number; device_id: number }>(
			"INSERT INTO datapoints (device_id, label) VALUES ($1, 'temperature'), ($2, 'temperature') " +
				"RETURNING id, device_id",
			[onEdge.id, onCore.id]
		);
		await core.sendToChannel("telemetry.readings", {
			readings: dps.map(d => ({ deviceId: d.device_id, datapointId: d.id, value: 20, ts: Date.now() }))
		});
		await waitFor(
			async () =>
				(
					await db.query("SELECT 1 FROM monitoring_devices WHERE device_id = ANY($1::int[])", [
						[onEdge.id, onCore.id]
					])
				).length === 2,
			10_000,
			"both devices seen by monitoring"
		);

		await edge.stop();
		const t0 = Date.now();
		const row = await waitFor(
			async () =>
				(
					await db.query<{ status: string; status_reason: string }>(
						"SELECT status, status_reason FROM devices WHERE id = $1 AND status = 'disconnected'",
						[onEdge.id]
					)
				)[0],
			3000,
			"edge device disconnected"
		);
		expect(Date.now() - t0).toBeLessThan(1000);
		expect(row.status_reason).toBe("node stopped");
		// The manager recorded it as a status event (the device history shows why), once: the
		// event row is written just after the status, so wait for it rather than read it once.
		const eventCount = async () =>
			(
				await db.query(
					"SELECT 1 FROM device_events WHERE device_id = $1 AND status = 'disconnected' AND " +
						"reason = 'node stopped'",
					[onEdge.id]
				)
			).length;
		await waitFor(async () => (await eventCount()) > 0, 3000, "the 'node stopped' status event");
		expect(await eventCount()).toBe(1);

		// The core board goes silent while its node lives: an offline alert. The edge board: none.
		await waitFor(
			async () =>
				(await db.query("SELECT 1 FROM alerts WHERE device_id = $1 AND kind = 'offline'", [onCore.id]))
					.length === 1,
			15_000,
			"offline alert for the silent core board"
		);
		await new Promise(r => setTimeout(r, 1500));
		expect(await db.query("SELECT 1 FROM alerts WHERE device_id = $1 AND kind = 'offline'", [onEdge.id])).toEqual(
			[]
		);
	}, 40_000);
});
