/**
 * Statistics, bucketing and paging of the monitoring service against known rows, on real
 * PostgreSQL and on embedded PGlite (the same migrations and queries on both).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import MonitoringService from "../../services/monitoring/monitoring.service";
import type { Database } from "../../mixins/db.mixin";
import { createTestBroker, tempDir, uniqueNamespace } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

async function seed(db: Database) {
	const [mine] = await db.query(
		"INSERT INTO devices (uid, name, type, profile, status, owner) VALUES ('stats-a', 'Bench board', " +
			"'arduino', 'arduino-uno', 'streaming', '42') RETURNING id"
	);
	const [other] = await db.query(
		"INSERT INTO devices (uid, name, owner) VALUES ('stats-b', 'Someone else''s', '7') RETURNING id"
	);
	const [temp] = await db.query(
		"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id",
		[mine.id]
	);
	const [hum] = await db.query(
		"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'humidity', '%') RETURNING id",
		[mine.id]
	);
	const [foreign] = await db.query(
		"INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id",
		[other.id]
	);
	// temperature every 10 s for 3 minutes: 0..17; humidity every 30 s: 50..55; the other device: 99.
	for (let i = 0; i < 18; i++) {
		await db.query("INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4)", [
			iso(T0 + i * 10_000),
			mine.id,
			temp.id,
			i
		]);
		await db.query("INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, 99)", [
			iso(T0 + i * 10_000),
			other.id,
			foreign.id
		]);
	}
	for (let i = 0; i < 6; i++) {
		await db.query("INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4)", [
			iso(T0 + i * 30_000),
			mine.id,
			hum.id,
			50 + i
		]);
	}
	return {
		mine: Number(mine.id),
		other: Number(other.id),
		temp: Number(temp.id),
		hum: Number(hum.id),
		foreign: Number(foreign.id)
	};
}

const user42 = { meta: { user: { id: 42, email: "owner@example.com", is_admin: false, jti: "x" } } };

for (const backend of ["postgres", "pglite"] as const) {
	describe(`monitoring stats and data on ${backend}`, () => {
		let broker: ServiceBroker;
		let pg: TestDatabase | null = null;
		let ids: Awaited<ReturnType<typeof seed>>;

		beforeAll(async () => {
			if (backend === "postgres") pg = await createTestDatabase("monitoring_stats");
			broker = createTestBroker({
				namespace: uniqueNamespace("mon-stats"),
				env: { DATABASE_URL: pg?.url, DATA_DIR: tempDir("mon-stats"), PROFILES_DIR: tempDir("no-profiles") },
				services: [MonitoringService]
			});
			await broker.start();
			ids = await seed((broker.getLocalService("monitoring") as unknown as { db: Database }).db);
		});

		afterAll(async () => {
			await broker?.stop();
			await pg?.drop();
		});

		it("summarises each datapoint over the window with labels and units", async () => {
			const res: any = await broker.call("monitoring.stats", {
				device: ids.mine,
				from: iso(T0),
				to: iso(T0 + 180_000)
			});
			expect(res.bucket).toBeNull();
			const byLabel = Object.fromEntries(res.datapoints.map((d: any) => [d.datapoint, d]));
			expect(byLabel.temperature).toMatchObject({
				deviceId: ids.mine,
				device: "Bench board",
				unit: "°C",
				count: 18,
				min: 0,
				max: 17,
				avg: 8.5,
				last: 17
			});
			expect(byLabel.temperature.lastTs).toBe("2026-01-01T00:02:50.000000Z");
			expect(byLabel.humidity).toMatchObject({ unit: "%", count: 6, min: 50, max: 55, avg: 52.5, last: 55 });
		});

		it("buckets with date_bin/time_bucket aligned to the minute", async () => {
			const res: any = await broker.call("monitoring.stats", {
				device: String(ids.mine),
				datapoint: "temperature",
				from: iso(T0),
				to: iso(T0 + 180_000),
				bucket: "1m"
			});
			expect(res.bucketFunction).toMatch(/^(date_bin|time_bucket)$/);
			expect(res.datapoints).toHaveLength(1);
			expect(res.datapoints[0].buckets).toEqual([
				{ start: "2026-01-01T00:00:00.000000Z", count: 6, min: 0, max: 5, avg: 2.5 },
				{ start: "2026-01-01T00:01:00.000000Z", count: 6, min: 6, max: 11, avg: 8.5 },
				{ start: "2026-01-01T00:02:00.000000Z", count: 6, min: 12, max: 17, avg: 14.5 }
			]);
		});

		it("restricts the window exactly (from inclusive, to exclusive)", async () => {
			const res: any = await broker.call("monitoring.stats", {
				datapoint: ids.temp,
				from: iso(T0 + 60_000),
				to: iso(T0 + 120_000)
			});
			expect(res.datapoints).toHaveLength(1);
			expect(res.datapoints[0]).toMatchObject({ count: 6, min: 6, max: 11, last: 11 });
		});

		it("shows a non-admin only the devices they own", async () => {
			const mine: any = await broker.call("monitoring.stats", { from: iso(T0), to: iso(T0 + 180_000) }, user42);
			expect(new Set(mine.datapoints.map((d: any) => d.deviceId))).toEqual(new Set([ids.mine]));
			const admin: any = await broker.call(
				"monitoring.stats",
				{ from: iso(T0), to: iso(T0 + 180_000) },
				{ meta: { user: { id: 1, is_admin: true } } }
			);
			expect(new Set(admin.datapoints.map((d: any) => d.deviceId))).toEqual(new Set([ids.mine, ids.other]));
			await expect(
				broker.call("monitoring.deviceData", { deviceId: ids.other, from: iso(T0) }, user42)
			).rejects.toMatchObject({ code: 404 });
		});

		it("pages readings newest first with a cursor, no row twice, none lost", async () => {
			const seen: string[] = [];
			let cursor: string | undefined;
			let pages = 0;
			do {
				const page: any = await broker.call(
					"monitoring.deviceData",
					{ deviceId: String(ids.mine), from: iso(T0), to: iso(T0 + 180_000), limit: "5", cursor },
					user42
				);
				pages++;
				for (const it of page.items) {
					expect(it.device).toBe("Bench board");
					expect(["temperature", "humidity"]).toContain(it.datapoint);
					seen.push(`${it.ts}|${it.datapoint}|${it.value}`);
				}
				cursor = page.nextCursor ?? undefined;
			} while (cursor && pages < 20);
			expect(seen).toHaveLength(24);
			expect(new Set(seen).size).toBe(24);
			expect(pages).toBe(5);
			expect(seen[0]).toBe("2026-01-01T00:02:50.000000Z|temperature|17");
			const times = seen.map(s => s.split("|")[0]);
			expect([...times].sort().reverse()).toEqual(times);
		});

		it("answers bad parameters with 422, not a database error", async () => {
			await expect(broker.call("monitoring.stats", { from: "last tuesday" })).rejects.toMatchObject({
				code: 422
			});
			await expect(
				broker.call("monitoring.stats", { from: iso(T0), to: iso(T0 + 86_400_000), bucket: "1s" })
			).rejects.toMatchObject({ code: 422 });
			await expect(broker.call("monitoring.data", { cursor: "bm9wZQ" })).rejects.toMatchObject({ code: 422 });
			await expect(broker.call("monitoring.data", { limit: 5000 })).rejects.toMatchObject({ code: 422 });
		});

		it("lists devices with their latest values for the dashboard", async () => {
			const page: any = await broker.call("monitoring.devices", {}, user42);
			expect(page.nextCursor).toBeNull();
			const list = page.items;
			expect(list).toHaveLength(1);
			expect(list[0]).toMatchObject({
				id: ids.mine,
				name: "Bench board",
				profile: "arduino-uno",
				status: "streaming"
			});
			const temp = list[0].datapoints.find((d: any) => d.label === "temperature");
			expect(temp).toMatchObject({ unit: "°C", value: 17, ts: "2026-01-01T00:02:50.000000Z" });
		});
	});
}
