/**
 * The id-or-name filter resolver (mixins/refs.ts) on a real PostgreSQL: what every list route's
 * `device=` and `owner=` filters answer for an id, a name, a name several share, one nobody has,
 * and a name of a device the caller may not see.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../mixins/db/database";
import { migrate } from "../../mixins/db/migrate";
import { resolveDevice, resolveRef, resolveUser } from "../../mixins/refs";
import { createTestDatabase, type TestDatabase } from "../helpers/db";

describe("id-or-name filters", () => {
	let pgDb: TestDatabase;
	let db: Database;
	const ids: Record<string, number> = {};
	let alice: number;
	const admin = { id: 1, email: "root@example.com", is_admin: true };
	const aliceCaller = () => ({ id: alice, email: "alice@example.com", is_admin: false });

	beforeAll(async () => {
		pgDb = await createTestDatabase("refs");
		db = await openDatabase({ databaseUrl: pgDb.url, dataDir: "" });
		await migrate(db);
		[{ id: alice }] = await db.query<{ id: number }>(
			"INSERT INTO t_users (email, password) VALUES ('alice@example.com', 'x') RETURNING id"
		);
		for (const [key, name, owner] of [
			["boiler", "Boiler", alice],
			["twin1", "Twin", null],
			["twin2", "twin", alice],
			["foreign", "Hidden", null]
		] as const) {
			const [row] = await db.query<{ id: number }>(
				"INSERT INTO devices (name, type, owner) VALUES ($1, 'controller', $2) RETURNING id",
				[name, owner]
			);
			ids[key] = row.id;
		}
	});

	afterAll(async () => {
		await db?.close();
		await pgDb?.drop();
	});

	it("takes an id as it is, a string of digits as an id, and no filter as none", async () => {
		const never = async () => {
			throw new Error("an id needs no lookup");
		};
		expect(await resolveRef("device", 42, never)).toBe(42);
		expect(await resolveRef("device", "42", never)).toBe(42);
		expect(await resolveRef("device", undefined, never)).toBeUndefined();
	});

	it("resolves a device name case-insensitively; a name nobody has matches nothing (0)", async () => {
		expect(await resolveDevice(db, "bOILER", admin)).toBe(ids.boiler);
		expect(await resolveDevice(db, "No such device", admin)).toBe(0);
	});

	it("a name two devices share is 422 naming the field and asking for the id", async () => {
		await expect(resolveDevice(db, "TWIN", admin)).rejects.toMatchObject({
			code: 422,
			data: [{ field: "device", value: "TWIN" }],
			message: expect.stringMatching(/id/)
		});
	});

	it("looks only among the caller's devices: a foreign name is no match, a shared one may be unique", async () => {
		expect(await resolveDevice(db, "Hidden", aliceCaller())).toBe(0);
		// Only one of the two "Twin" devices is Alice's: for her the name is not ambiguous.
		expect(await resolveDevice(db, "twin", aliceCaller())).toBe(ids.twin2);
	});

	it("resolves an owner by id or e-mail address", async () => {
		expect(await resolveUser(db, " Alice@Example.com ")).toBe(alice);
		expect(await resolveUser(db, String(alice))).toBe(alice);
		expect(await resolveUser(db, "nobody@example.com")).toBe(0);
	});
});
