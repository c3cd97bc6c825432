/** A PostgreSQL database of its own for one test file: created at start, dropped at the end. */
import crypto from "node:crypto";
import { Client } from "pg";
import { PG_ADMIN_URL, requireServer } from "./servers";

export interface TestDatabase {
	name: string;
	url: string;
	drop(): Promise<void>;
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
	await requireServer("postgres");
	const name = `fm_${prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${crypto.randomBytes(4).toString("hex")}`;
	const admin = new Client({ connectionString: PG_ADMIN_URL });
	await admin.connect();
	try {
		await admin.query(`CREATE DATABASE "${name}"`);
	} finally {
		await admin.end();
	}
	const url = new URL(PG_ADMIN_URL);
	url.pathname = `/${name}`;
	return {
		name,
		url: url.toString(),
		async drop() {
			const c = new Client({ connectionString: PG_ADMIN_URL });
			await c.connect();
			try {
				await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
			} finally {
				await c.end();
			}
		}
	};
}
