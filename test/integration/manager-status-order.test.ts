/**
 * The order of a device's status writes in the registry (PostgreSQL): a node sync's catch-up is
 * written only over the status it read before asking the processor, so a processor's report
 * that lands in between (its first "streaming") is never overwritten by the older answer.
 * Seen when packets travelled faster: a sync left devices "configured" that were streaming.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { setStatus } from "../../services/manager/registry";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

describe("device status writes", () => {
	let pg: TestDatabase;
	let db: Database;
	let id: number;

	beforeAll(async () => {
		pg = await createTestDatabase("manager-status-order");
		db = await openDatabase({ databaseUrl: pg.url, dataDir: "" });
		await migrate(db);
		const [row] = await db.query<{ id: number }>(
			"INSERT INTO devices (uid, name, status) VALUES ('status-order', 'status order', 'detected') RETURNING id"
		);
		id = row.id;
	});

	afterAll(async () => {
		await db?.close();
		await pg?.drop();
	});

	const statusOf = async () =>
		(await db.query<{ status: string }>("SELECT status FROM devices WHERE id = $1", [id]))[0].status;
	const events = async () =>
		(
			await db.query<{ status: string }>(
				"SELECT status FROM device_events WHERE device_id = $1 AND type = 'status' ORDER BY id",
				[id]
			)
		).map(e => e.status);

	it("a catch-up over a status that changed meanwhile is not written", async () => {
		// The sync read "detected"; the processor then reported "streaming" before the sync wrote.
		expect(await setStatus(db, id, "streaming", null, "edge-1")).toBe(true);
		expect(await setStatus(db, id, "configured", null, "edge-1", false, "detected")).toBe(false);
		expect(await statusOf()).toBe("streaming");
		expect(await events()).toEqual(["streaming"]);
	});

	it("a catch-up over the status it read is written, and a later report still applies", async () => {
		await db.query("UPDATE devices SET status = 'disconnected' WHERE id = $1", [id]);
		expect(await setStatus(db, id, "configured", null, "edge-1", false, "disconnected")).toBe(true);
		expect(await setStatus(db, id, "streaming", null, "edge-1")).toBe(true);
		expect(await statusOf()).toBe("streaming");
		expect(await events()).toEqual(["streaming", "configured", "streaming"]);
	});

	it("without an expected status, a write applies whatever the device has", async () => {
		expect(await setStatus(db, id, "error", "read timeout", "edge-1")).toBe(true);
		expect(await statusOf()).toBe("error");
	});
});
