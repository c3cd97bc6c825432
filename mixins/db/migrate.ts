/**
 * Numbered SQL migrations from sql/, applied in order, each once.
 *
 * Applied files are recorded in schema_migrations with a checksum. The whole run holds a
 * PostgreSQL advisory lock, so two nodes starting at the same moment apply each file once:
 * the second waits, then finds nothing left to do. Each file runs in its own transaction.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { SQL_DIR } from "../../services/shared/paths";
import type { Database } from "./database";
import { errorMessage } from "../../services/shared/error-message";

export const MIGRATIONS_DIR = SQL_DIR;

/** Arbitrary constant: the advisory lock id that serialises migrations ("fleetmesh" in ASCII, truncated). */
const MIGRATION_LOCK_ID = 0x666c656574;

export interface Migration {
	id: string;
	file: string;
	sql: string;
	checksum: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
	return fs
		.readdirSync(dir)
		.filter(f => /^\d{3,}_[\w-]+\.sql$/.test(f))
		.sort()
		.map(file => {
			const sql = fs.readFileSync(path.join(dir, file), "utf8");
			return {
				id: file.replace(/\.sql$/, ""),
				file,
				sql,
				checksum: crypto.createHash("sha256").update(sql).digest("hex")
			};
		});
}

export interface MigrationResult {
	applied: string[];
	skipped: string[];
	/** Files whose content changed after they were applied (reported, not re-run). */
	changed: string[];
}

export async function migrate(db: Database, migrations = loadMigrations()): Promise<MigrationResult> {
	return db.withSession(async session => {
		const result: MigrationResult = { applied: [], skipped: [], changed: [] };
		await session.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_ID]);
		try {
			await session.exec(
				`CREATE TABLE IF NOT EXISTS schema_migrations (
					id text PRIMARY KEY,
					checksum text NOT NULL,
					applied_at timestamptz NOT NULL DEFAULT now()
				)`
			);
			const done = new Map(
				(
					await session.query<{ id: string; checksum: string }>("SELECT id, checksum FROM schema_migrations")
				).map(r => [r.id, r.checksum])
			);
			for (const m of migrations) {
				const checksum = done.get(m.id);
				if (checksum != null) {
					result.skipped.push(m.id);
					if (checksum !== m.checksum) result.changed.push(m.id);
					continue;
				}
				await session.exec("BEGIN");
				try {
					await session.exec(m.sql);
					await session.query("INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)", [
						m.id,
						m.checksum
					]);
					await session.exec("COMMIT");
				} catch (err) {
					await session.exec("ROLLBACK").catch(() => undefined);
					throw new Error(`migration ${m.file} failed: ${errorMessage(err)}`);
				}
				result.applied.push(m.id);
			}
		} finally {
			await session.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_ID]).catch(() => undefined);
		}
		return result;
	});
}
