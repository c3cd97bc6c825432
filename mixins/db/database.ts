/**
 * One small SQL interface for every service: PostgreSQL through `pg` when DATABASE_URL is
 * set, embedded PGlite persisted in DATA_DIR otherwise.
 *
 * Parameterised queries and transactions only. One Database per process and target, shared
 * by every service of the node (PGlite is a single connection: two processes must never open
 * the same directory, and queries within one process queue on it).
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigError, redact } from "../../services/shared/env";
import { retry } from "../../services/shared/retry";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a row is what the query selects; callers name it
export type Row = Record<string, any>;

export interface Sql {
	/** A parameterised query ($1, $2, …); returns the rows. */
	query<T extends Row = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Session extends Sql {
	/** Runs a script of several statements without parameters (migrations only). */
	exec(script: string): Promise<void>;
}

export interface Database extends Sql {
	readonly kind: "postgres" | "pglite";
	/** Where the data lives, with any password hidden. */
	readonly target: string;
	/** Runs fn in one transaction on one connection: committed if it resolves, rolled back if it throws. */
	transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
	/** Runs fn on one dedicated session (advisory locks, migrations, COPY). */
	withSession<T>(fn: (session: Session, raw: unknown) => Promise<T>): Promise<T>;
	ping(): Promise<void>;
	/**
	 * Opens up to `n` connections at once (all but one of the pool at most) and runs `fn` on each
	 * (a warm-up at start: the first load then waits for no connection handshake, nor for a
	 * backend's first plans), then keeps them open in the pool instead of closing them when idle.
	 * PGlite: `fn` once, on its one session. Returns the connections warmed.
	 */
	warmConnections(n: number, fn?: (session: Session, raw: unknown) => Promise<void>): Promise<number>;
	close(): Promise<void>;
}

export interface DatabaseOptions {
	databaseUrl: string | null;
	dataDir: string;
	/** How long to keep trying the first connection before giving up (ms). */
	connectTimeoutMs?: number;
	poolMax?: number;
}

class PostgresDatabase implements Database {
	readonly kind = "postgres" as const;
	readonly target: string;
	constructor(
		private readonly pool: import("pg").Pool,
		url: string
	) {
		this.target = redact(url);
	}

	async query<T extends Row = Row>(text: string, params: unknown[] = []): Promise<T[]> {
		const res = await this.pool.query(text, params);
		return res.rows as T[];
	}

	async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
		const client = await this.checkout();
		try {
			await client.query("BEGIN");
			const result = await fn({
				query: async <R extends Row>(text: string, params: unknown[] = []) =>
					(await client.query(text, params)).rows as R[]
			});
			await client.query("COMMIT");
			return result;
		} catch (err) {
			await client.query("ROLLBACK").catch(() => undefined);
			throw err;
		} finally {
			this.checkin(client);
		}
	}

	/**
	 * A pooled client for exclusive use. While checked out, pg leaves a client without an
	 * 'error' listener: a connection killed between two queries (server restart,
	 * pg_terminate_backend) would then throw from the socket and crash the process. The
	 * listener keeps that as a failed next query, which callers retry.
	 */
	private async checkout(): Promise<import("pg").PoolClient & { $broken?: boolean }> {
		const client = (await this.pool.connect()) as import("pg").PoolClient & { $broken?: boolean };
		client.on("error", markBroken);
		return client;
	}

	private checkin(client: import("pg").PoolClient & { $broken?: boolean }, broken = false): void {
		client.removeListener("error", markBroken);
		client.release(broken || client.$broken ? true : undefined);
	}

	async withSession<T>(fn: (session: Session, raw: unknown) => Promise<T>): Promise<T> {
		const client = await this.checkout();
		let broken = false;
		try {
			return await fn(sessionOf(client), client);
		} catch (err) {
			broken = isConnectionError(err);
			throw err;
		} finally {
			this.checkin(client, broken);
		}
	}

	async ping(): Promise<void> {
		await this.pool.query("SELECT 1");
	}

	async warmConnections(n: number, fn?: (session: Session, raw: unknown) => Promise<void>): Promise<number> {
		const options = (this.pool as unknown as { options: { min: number; max: number } }).options;
		// One connection stays free for the other callers meanwhile (a warm-up waiting on a lock
		// must not hold the whole pool); the pool opens that one when it is needed.
		const count = Math.max(1, Math.min(n, options.max - 1));
		// Kept open while idle (pg-pool closes idle clients only above `min`).
		options.min = Math.max(options.min, count);
		// All checked out together, so each is its own connection (a quick fn would hand one back
		// for the next otherwise, leaving the others unopened).
		const clients = await Promise.all(Array.from({ length: count }, () => this.checkout()));
		let broken = false;
		try {
			await Promise.all(
				clients.map(client => (fn ?? (async s => void (await s.query("SELECT 1"))))(sessionOf(client), client))
			);
		} catch (err) {
			broken = isConnectionError(err);
			throw err;
		} finally {
			for (const client of clients) this.checkin(client, broken);
		}
		return count;
	}

	async close(): Promise<void> {
		await this.pool.end();
	}
}

class PgliteDatabase implements Database {
	readonly kind = "pglite" as const;
	constructor(
		private readonly db: import("@electric-sql/pglite").PGlite,
		readonly target: string
	) {}

	async query<T extends Row = Row>(text: string, params: unknown[] = []): Promise<T[]> {
		return (await this.db.query<T>(text, params)).rows;
	}

	transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
		return this.db.transaction(tx =>
			fn({
				query: async <R extends Row>(text: string, params: unknown[] = []) =>
					(await tx.query<R>(text, params)).rows
			})
		);
	}

	withSession<T>(fn: (session: Session, raw: unknown) => Promise<T>): Promise<T> {
		// PGlite is one session already; queries of other callers queue behind this one's.
		return fn(
			{
				query: async <R extends Row>(text: string, params: unknown[] = []) =>
					(await this.db.query<R>(text, params)).rows,
				exec: async (script: string) => {
					await this.db.exec(script);
				}
			},
			this.db
		);
	}

	async ping(): Promise<void> {
		await this.db.query("SELECT 1");
	}

	async warmConnections(_n: number, fn?: (session: Session, raw: unknown) => Promise<void>): Promise<number> {
		if (fn) await this.withSession(fn);
		return 1;
	}

	async close(): Promise<void> {
		await this.db.close();
	}
}

/** A session on one checked-out pg client. */
function sessionOf(client: import("pg").PoolClient): Session {
	return {
		query: async <R extends Row>(text: string, params: unknown[] = []) =>
			(await client.query(text, params)).rows as R[],
		exec: async (script: string) => {
			await client.query(script);
		}
	};
}

function markBroken(this: { $broken?: boolean }): void {
	this.$broken = true;
}

export function isConnectionError(err: unknown): boolean {
	const e = err as { code?: string; message?: string };
	if (!e) return false;
	if (
		e.code &&
		[
			"ECONNREFUSED",
			"ECONNRESET",
			"EPIPE",
			"ETIMEDOUT",
			"ENOTFOUND",
			"EAI_AGAIN",
			"57P01",
			"57P02",
			"57P03",
			"08000",
			"08003",
			"08006"
		].includes(e.code)
	)
		return true;
	return /Connection terminated|connection.*(closed|terminated)|terminating connection/i.test(e.message ?? "");
}

async function openPostgres(opts: DatabaseOptions & { databaseUrl: string }): Promise<Database> {
	const { Pool } = await import("pg");
	const pool = new Pool({
		connectionString: opts.databaseUrl,
		max: opts.poolMax ?? 10,
		connectionTimeoutMillis: 5000,
		idleTimeoutMillis: 30_000,
		application_name: "fleetmesh"
	});
	// A connection that dies while idle (server restart, pg_terminate_backend) must not crash
	// the process: the pool drops it and the next query gets a fresh one.
	pool.on("error", () => undefined);
	const db = new PostgresDatabase(pool, opts.databaseUrl);
	const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
	try {
		// Retried while the next try still starts before the deadline.
		await retry(() => db.ping(), {
			firstDelayMs: 200,
			maxDelayMs: 2000,
			onFailure: (_err, _attempt, delay) => Date.now() + delay <= deadline
		});
		return db;
	} catch (err) {
		await pool.end().catch(() => undefined);
		const e = err as { code?: string; message?: string };
		throw new ConfigError("DATABASE_URL", `cannot connect to ${redact(opts.databaseUrl)} (${e.message || e.code})`);
	}
}

async function openPglite(dataDir: string): Promise<Database> {
	const { PGlite } = await import("@electric-sql/pglite");
	const dir = path.join(dataDir, "pglite");
	try {
		fs.mkdirSync(dir, { recursive: true });
	} catch (err) {
		throw new ConfigError("DATA_DIR", `cannot create ${dir} (${(err as NodeJS.ErrnoException).code})`);
	}
	const db = await PGlite.create(dir);
	return new PgliteDatabase(db, `pglite:${dir}`);
}

export function openDatabase(opts: DatabaseOptions): Promise<Database> {
	return opts.databaseUrl ? openPostgres({ ...opts, databaseUrl: opts.databaseUrl }) : openPglite(opts.dataDir);
}
