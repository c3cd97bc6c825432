/**
 * SQL shared by the pipeline stages: the bulk, idempotent insert into decoded_data (the sink,
 * and the decoder's replay of dead letters) and the dead-letter table.
 *
 * PostgreSQL: one binary COPY (pg-copy-streams) straight into decoded_data; only when that
 * meets a stored row, COPY into a session temp table, then one INSERT … SELECT … ON CONFLICT
 * DO NOTHING, in one transaction. PGlite (embedded, no COPY
 * stream): the same set-based INSERT from unnest() of four arrays. Either way the primary key
 * turns a redelivered batch into a no-op.
 */
import { pipeline as streamPipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import type { Database, Sql } from "../../../mixins/db/database";
import { toEpochMs, type Reading } from "../contracts";

export interface Row {
	ts: number;
	deviceId: number;
	datapointId: number;
	value: number;
}

// The reading check is the channel's contract (shared by every consumer); re-exported for callers here.
export { readingProblem, toEpochMs } from "../contracts";

export function toRow(r: Reading): Row {
	return { ts: toEpochMs(r.ts)!, deviceId: r.deviceId, datapointId: r.datapointId, value: r.value };
}

/**
 * True when PostgreSQL refused the rows themselves (SQLSTATE class 22 data exception, 23
 * integrity violation, 42 a table/column missing): retrying the same rows cannot help.
 * Everything else (connections, restarts, "not accepting connections", timeouts) is waited out.
 */
export function isDataError(err: unknown): boolean {
	const code = (err as { code?: unknown })?.code;
	return typeof code === "string" && /^(22|23|42)[0-9A-Z]{3}$/.test(code);
}

/** Rows in PostgreSQL COPY text format (tab-separated, one line each). */
export function copyText(rows: Row[]): string {
	let out = "";
	for (const r of rows) out += `${new Date(r.ts).toISOString()}\t${r.deviceId}\t${r.datapointId}\t${r.value}\n`;
	return out;
}

/** 2000-01-01T00:00:00Z, PostgreSQL's epoch for binary timestamps (microseconds since then). */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const COPY_SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** Per row: field count (2), then length (4) + value of an 8-byte, two 4-byte and an 8-byte field. */
const BINARY_ROW_BYTES = 2 + 4 + 8 + 4 + 4 + 4 + 4 + 4 + 8;

/**
 * Rows in PostgreSQL's binary COPY format (timestamptz, int4, int4, float8): no date
 * formatting here and no text parsing in the server, the two largest costs of the text format
 * per row. Millisecond timestamps are truncated as `new Date(ts)` truncates them.
 */
export function copyBinary(rows: Row[]): Buffer {
	const buf = Buffer.allocUnsafe(19 + rows.length * BINARY_ROW_BYTES + 2);
	COPY_SIGNATURE.copy(buf, 0);
	buf.writeInt32BE(0, 11); // flags
	buf.writeInt32BE(0, 15); // header extension length
	let o = 19;
	for (const r of rows) {
		// Microseconds since 2000 stay below 2^53 for any date a reading may have (until year 287,000).
		const us = (Math.trunc(r.ts) - PG_EPOCH_MS) * 1000;
		const hi = Math.floor(us / 4294967296);
		o = buf.writeInt16BE(4, o);
		o = buf.writeInt32BE(8, o);
		o = buf.writeInt32BE(hi, o);
		o = buf.writeUInt32BE(us - hi * 4294967296, o);
		o = buf.writeInt32BE(4, o);
		o = buf.writeInt32BE(r.deviceId, o);
		o = buf.writeInt32BE(4, o);
		o = buf.writeInt32BE(r.datapointId, o);
		o = buf.writeInt32BE(8, o);
		o = buf.writeDoubleBE(r.value, o);
	}
	buf.writeInt16BE(-1, o); // trailer
	return buf;
}

/** Inserts rows into decoded_data in one transaction; duplicates of stored rows are skipped. Returns rows inserted. */
export async function insertReadings(db: Database, rows: Row[]): Promise<number> {
	if (rows.length === 0) return 0;
	if (db.kind === "postgres") return insertWithCopy(db, rows);
	return db.transaction(tx => insertWithUnnest(tx, rows));
}

const COLUMNS = "(timestamp, device_id, datapoint_id, value)";

/**
 * One COPY straight into decoded_data (a single statement: its own transaction, all rows or
 * none). Only when a row is there already (a redelivered batch: unique violation) are the rows
 * copied into a session temp table and inserted with ON CONFLICT DO NOTHING, in one
 * transaction; the first try then wrote nothing. The direct COPY halves the server's work
 * per row in the normal case, where nothing is a duplicate.
 */
async function insertWithCopy(db: Database, rows: Row[]): Promise<number> {
	const from = await copyFromStdin();
	const data = copyBinary(rows);
	return db.withSession(async (session, raw) => {
		const client = raw as import("pg").PoolClient;
		const copy = (table: string) => copyInto(client, from, table, data);
		try {
			await copy("decoded_data");
			return rows.length;
		} catch (err) {
			if ((err as { code?: unknown })?.code !== "23505") throw err;
		}
		await session.query("BEGIN");
		try {
			// The temp table lives as long as the pooled connection; ON COMMIT DELETE ROWS empties it.
			await session.query(
				"CREATE TEMP TABLE IF NOT EXISTS decoded_data_stage (timestamp timestamptz, device_id " +
					"integer, datapoint_id integer, value double precision) ON COMMIT DELETE ROWS"
			);
			await copy("decoded_data_stage");
			const res = await client.query(
				`INSERT INTO decoded_data ${COLUMNS} SELECT timestamp, device_id, datapoint_id, value FROM ` +
					`decoded_data_stage ON CONFLICT DO NOTHING`
			);
			await session.query("COMMIT");
			return res.rowCount ?? 0;
		} catch (err) {
			await session.query("ROLLBACK").catch(() => undefined);
			throw err;
		}
	});
}

type CopyFrom = typeof import("pg-copy-streams").from;

let copyFrom: Promise<CopyFrom> | null = null;

/**
 * pg-copy-streams, loaded on first use (PGlite nodes never need it) and kept: an `import()` per
 * COPY resolved the module again on every write (under a loader such as tsx, a round trip to
 * its thread each time: ~10 % of a paced run's CPU).
 */
function copyFromStdin(): Promise<CopyFrom> {
	copyFrom ??= import("pg-copy-streams").then(m => m.from);
	return copyFrom;
}

function copyInto(client: import("pg").PoolClient, copyFrom: CopyFrom, table: string, data: Buffer): Promise<void> {
	return streamPipeline(
		Readable.from([data]),
		client.query(copyFrom(`COPY ${table} ${COLUMNS} FROM STDIN (FORMAT binary)`))
	);
}

/** Rows of the warm-up: device and datapoint 0, which no registered id is (serials start at 1). */
function warmUpRows(n: number): Row[] {
	const now = Date.now();
	return Array.from({ length: n }, (_, i) => ({ ts: now - i, deviceId: 0, datapointId: 0, value: i }));
}

/**
 * Runs the write path of insertReadings at start, on each of `connections` pooled connections,
 * in a transaction that is rolled back: nothing stays in decoded_data or its rollup. The first
 * real write then pays no connection handshake, no module load, and no backend's first plan of
 * the COPY and of the rollup trigger (plpgsql compiles and plans once per backend). PGlite: the
 * unnest INSERT once, rolled back as well.
 */
export async function warmUpWrites(db: Database, connections: number, rows = 200): Promise<number> {
	const data = warmUpRows(rows);
	if (db.kind !== "postgres") {
		await db
			.transaction(async tx => {
				await insertWithUnnest(tx, data);
				throw new WarmUpRollback();
			})
			.catch(err => {
				if (!(err instanceof WarmUpRollback)) throw err;
			});
		return 1;
	}
	const copyFrom = await copyFromStdin();
	return db.warmConnections(connections, async (session, raw) => {
		await session.query("BEGIN");
		try {
			// A lock held on decoded_data at start (a migration, a maintenance job) delays the warm-up,
			// and so readiness, this long at most; then the warm-up gives up and the node starts cold.
			await session.query("SET LOCAL lock_timeout = '10s'");
			await copyInto(raw as import("pg").PoolClient, copyFrom, "decoded_data", copyBinary(data));
		} finally {
			await session.query("ROLLBACK");
		}
	});
}

class WarmUpRollback extends Error {}

export async function insertWithUnnest(tx: Sql, rows: Row[]): Promise<number> {
	const res = await tx.query<{ n: number }>(
		`WITH ins AS (
			INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
			SELECT * FROM unnest($1::timestamptz[], $2::int[], $3::int[], $4::float8[])
			ON CONFLICT DO NOTHING RETURNING 1
		) SELECT count(*)::int AS n FROM ins`,
		[
			rows.map(r => new Date(r.ts).toISOString()),
			rows.map(r => r.deviceId),
			rows.map(r => r.datapointId),
			rows.map(r => r.value)
		]
	);
	return res[0]?.n ?? 0;
}

/** The naive baseline (bench only): one INSERT per reading. */
export async function insertOneByOne(db: Database, rows: Row[]): Promise<void> {
	for (const r of rows) {
		await db.query(
			"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) VALUES ($1, $2, $3, $4) " +
				"ON CONFLICT DO NOTHING",
			[new Date(r.ts).toISOString(), r.deviceId, r.datapointId, r.value]
		);
	}
}

// ---- dead letters ---------------------------------------------------------------------------

export interface DeadLetterInput {
	source: string;
	reason: string;
	topic?: string | null;
	payload?: string | null;
	data?: Record<string, unknown>;
}

/** Many dead letters in one statement. */
export async function insertDeadLetters(db: Sql, letters: DeadLetterInput[]): Promise<void> {
	if (letters.length === 0) return;
	await db.query(
		`INSERT INTO dead_letters (source, reason, topic, payload, data)
		 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])`,
		[
			letters.map(l => l.source),
			letters.map(l => l.reason),
			letters.map(l => l.topic ?? null),
			letters.map(l => l.payload ?? null),
			letters.map(l => JSON.stringify(l.data ?? {}))
		]
	);
}

export interface DeadLetterRow {
	id: number;
	source: string;
	reason: string;
	topic: string | null;
	payload: string | null;
	data: Record<string, unknown>;
	created_at: string | Date;
	replayed_at: string | Date | null;
	replay_count: number;
	last_error: string | null;
}

/** TimescaleDB only: the retention policy of decoded_data from DATA_RETENTION_DAYS (0 removes it). */
export async function applyRetention(db: Database, days: number): Promise<"timescaledb" | "plain"> {
	const ht = await db.query("SELECT 1 FROM pg_extension e WHERE e.extname = 'timescaledb'");
	if (ht.length === 0) return "plain";
	await db.query("SELECT remove_retention_policy('decoded_data', if_exists => true)");
	if (days > 0) await db.query("SELECT add_retention_policy('decoded_data', make_interval(days => $1::int))", [days]);
	return "timescaledb";
}
