/**
 * The dead-letter routes of the pipeline as plain functions: listing letters, and replaying
 * the open ones after the metadata was fixed (decode again, store what now decodes).
 */
import type { Database } from "../../mixins/db/database";
import type { RawMqttMessage, Reading } from "../shared/contracts";
import { insertReadings, readingProblem, toRow, type DeadLetterRow, type Row } from "../shared/pipeline/storage";
import { decodeBatch, type LookupControllers } from "./decode-batch";
import type { DeadLetterReplay, DeadLetterView } from "../shared/contracts/api";

export interface ListParams {
	open: boolean;
	source?: string;
	reason?: string;
	limit: number;
	/** Keyset: only letters with a larger id (the list cursor). */
	afterId?: number;
}

const iso = (t: string | Date) => (t instanceof Date ? t : new Date(t)).toISOString();

/** A dead_letters row as the API shows a letter (the one mapper). */
export function toDeadLetterView(r: DeadLetterRow): DeadLetterView {
	return {
		id: Number(r.id),
		source: r.source,
		reason: r.reason,
		topic: r.topic,
		payload: r.payload,
		data: r.data ?? {},
		createdAt: iso(r.created_at),
		replayedAt: r.replayed_at == null ? null : iso(r.replayed_at),
		replayCount: Number(r.replay_count),
		lastError: r.last_error
	};
}

/** Letters in id order after `afterId`, `limit` rows, and how many match the filter in all. */
export async function listDeadLetters(
	db: Database,
	{ open, source, reason, limit, afterId }: ListParams
): Promise<{ total: number; rows: DeadLetterRow[] }> {
	const where = ["source LIKE 'pipeline.%'"];
	const args: unknown[] = [];
	if (open) where.push("replayed_at IS NULL");
	if (source) where.push(`source = $${args.push(source)}`);
	// Reasons start with their code: reason=UNKNOWN_MAC finds every unknown-MAC letter.
	if (reason) where.push(`reason LIKE $${args.push(reason.replace(/[%_\\]/g, "\\$&") + "%")}`);
	const filter = where.join(" AND ");
	const after = `id > $${args.push(afterId ?? 0)}`;
	// One statement, one snapshot: the total always agrees with the rows.
	const found = await db.query<DeadLetterRow & { total: number }>(
		`SELECT id, source, reason, topic, payload, data, created_at, replayed_at, replay_count, last_error,
		   (SELECT count(*)::int FROM dead_letters WHERE ${filter}) AS total
		 FROM dead_letters WHERE ${filter} AND ${after} ORDER BY id LIMIT $${args.push(limit)}`,
		args
	);
	let total = found[0]?.total ?? 0;
	if (found.length === 0 && afterId) {
		total = (
			await db.query<{ total: number }>(
				`SELECT count(*)::int AS total FROM dead_letters WHERE ${filter}`,
				args.slice(0, -2)
			)
		)[0].total;
	}
	return { total, rows: found.map(({ total: _t, ...r }) => r) };
}

export type ReplayResult = DeadLetterReplay;

/** Decodes open letters again (the caller cleared the metadata caches first) and stores what now decodes. */
export async function replayDeadLetters(
	db: Database,
	params: { ids?: number[]; limit: number },
	lookup: LookupControllers
): Promise<ReplayResult> {
	const args: unknown[] = [params.limit];
	let filter = "";
	if (params.ids?.length) filter = `AND id = ANY($${args.push(params.ids)}::bigint[])`;
	const letters = await db.query<DeadLetterRow>(
		`SELECT id, source, reason, topic, payload, data FROM dead_letters
		 WHERE replayed_at IS NULL AND source IN ('pipeline.decode', 'pipeline.sink') ${filter}
		 ORDER BY id LIMIT $1`,
		args
	);
	const ok: number[] = [];
	const failed: { id: number; reason: string }[] = [];
	const rows: Row[] = [];
	const decoded = await Promise.all(
		letters
			.filter(l => l.source === "pipeline.decode" && l.topic != null)
			.map(async l => {
				const b64 =
					typeof l.data?.payloadBase64 === "string"
						? (l.data.payloadBase64 as string)
						: Buffer.from(l.payload ?? "", "utf8").toString("base64");
				const message: RawMqttMessage = {
					topic: l.topic!,
					payload: b64,
					receivedAt: String(l.data?.receivedAt ?? "")
				};
				return { l, r: await decodeBatch([message], lookup) };
			})
	);
	for (const { l, r } of decoded) {
		if (r.dead.length) failed.push({ id: l.id, reason: r.dead[0].reason });
		else {
			ok.push(l.id);
			rows.push(...r.readings.map(toRow));
		}
	}
	for (const l of letters) {
		if (l.source === "pipeline.sink") {
			const readings = Array.isArray(l.data?.readings) ? (l.data.readings as unknown[]) : null;
			const problem = readings ? readings.map(readingProblem).find(p => p) : "no readings recorded";
			if (problem) failed.push({ id: l.id, reason: `BAD_READING: ${problem}` });
			else {
				ok.push(l.id);
				rows.push(...(readings as Reading[]).map(toRow));
			}
		} else if (l.topic == null) failed.push({ id: l.id, reason: "BAD_BATCH: not a single MQTT message" });
	}
	const stored = await insertReadings(db, rows);
	await db.transaction(async tx => {
		if (ok.length)
			await tx.query(
				"UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1, " +
					"last_error = NULL WHERE id = ANY($1::bigint[])",
				[ok]
			);
		if (failed.length)
			await tx.query(
				"UPDATE dead_letters d SET replay_count = replay_count + 1, last_error = f.reason " +
					"FROM unnest($1::bigint[], $2::text[]) AS f(id, reason) WHERE d.id = f.id",
				[failed.map(f => f.id), failed.map(f => f.reason)]
			);
	});
	return { replayed: ok.length, failed: failed.length, rowsStored: stored, failures: failed.slice(0, 100) };
}
