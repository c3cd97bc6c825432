/**
 * db mixin: gives a service `this.db` (see mixins/db/database.ts), opened and migrated once per
 * process and target, shared by every service of the node, closed when the last one stops.
 *
 *   mixins: [DbMixin]   …   await this.db.query("SELECT … WHERE id = $1", [id])
 */
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { fleetEnv } from "../services/shared/broker-env";
import { openDatabase, type Database } from "./db/database";
import { migrate } from "./db/migrate";
import { registerHealthCheck } from "./health";

interface SharedDb {
	promise: Promise<Database>;
	users: number;
}

const shared = new Map<string, SharedDb>();

function keyFor(databaseUrl: string | null, dataDir: string): string {
	return databaseUrl ?? `pglite:${dataDir}`;
}

/** Opens (or joins) this process's database for the broker's environment, migrated. */
export function acquireDatabase(broker: ServiceBroker): Promise<Database> {
	const env = fleetEnv(broker);
	const key = keyFor(env.databaseUrl, env.dataDir);
	let entry = shared.get(key);
	if (!entry) {
		const promise = (async () => {
			const db = await openDatabase({
				databaseUrl: env.databaseUrl,
				dataDir: env.dataDir,
				connectTimeoutMs: env.dbConnectTimeoutMs,
				poolMax: env.dbPoolMax
			});
			const result = await migrate(db);
			if (result.applied.length)
				broker.logger.info(`database ${db.target}: applied migrations ${result.applied.join(", ")}`);
			if (result.changed.length)
				broker.logger.warn(
					`database: migrations changed after being applied (not re-run): ${result.changed.join(", ")}`
				);
			return db;
		})();
		entry = { promise, users: 0 };
		shared.set(key, entry);
		// A failed open is not cached: the next start tries again.
		promise.catch(() => shared.get(key) === entry && shared.delete(key));
	}
	entry.users++;
	return entry.promise;
}

export async function releaseDatabase(broker: ServiceBroker): Promise<void> {
	const env = fleetEnv(broker);
	const key = keyFor(env.databaseUrl, env.dataDir);
	const entry = shared.get(key);
	if (!entry) return;
	if (--entry.users > 0) return;
	shared.delete(key);
	const db = await entry.promise.catch(() => null);
	await db?.close().catch(() => undefined);
}

export const DbMixin: Partial<ServiceSchema> & ThisType<{ db: Database; broker: ServiceBroker }> = {
	async started() {
		this.db = await acquireDatabase(this.broker);
		registerHealthCheck(this.broker, "database", async () => {
			await this.db.ping();
			return this.db.kind;
		});
	},
	async stopped() {
		if (this.db) await releaseDatabase(this.broker);
	}
};

export type { Database, Sql } from "./db/database";
