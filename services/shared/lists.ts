/**
 * The list convention of the HTTP API (docs/api.md): every list answers
 * `{ items, nextCursor, total? }`, paged by an opaque cursor: pass `nextCursor` back as `cursor`
 * until it is null. Default page size 100, maximum 1000, unless a route documents other bounds.
 * Keyset paging on a unique, ordered key (usually the id), so rows inserted meanwhile never make
 * a page repeat or skip a row.
 */
import { Closed, Nullable, Type, type TSchema } from "./contracts/schema";
import { UnprocessableError } from "./errors";

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

/** The `limit` and `cursor` params of a list action. */
export function pageParams(max = MAX_PAGE) {
	return {
		limit: { type: "number", integer: true, min: 1, max, convert: true, optional: true },
		cursor: { type: "string", max: 200, optional: true }
	} as const;
}

export interface Page<T> {
	items: T[];
	nextCursor: string | null;
	total?: number;
}

/** An opaque cursor for a keyset position (base64url JSON). */
export function encodeCursor(key: unknown): string {
	return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The keyset position of a cursor; a cursor this API did not hand out is 422 naming `cursor`. */
export function decodeCursor<T>(cursor: string | undefined, valid: (k: unknown) => k is T): T | undefined {
	if (!cursor) return undefined;
	let key: unknown;
	try {
		key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
	} catch {
		key = undefined;
	}
	if (!valid(key))
		throw new UnprocessableError(
			"The 'cursor' parameter is not a cursor this list handed out (pass nextCursor back as it came)",
			[{ field: "cursor", message: "not a valid cursor", value: cursor }]
		);
	return key;
}

export const isPositiveInt = (k: unknown): k is number => Number.isSafeInteger(k) && (k as number) > 0;

/**
 * A page from `limit + 1` rows fetched in order: the extra row only says there is more, and the
 * last row returned gives the cursor.
 */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => unknown, total?: number): Page<T> {
	const items = rows.slice(0, limit);
	const more = rows.length > limit;
	return {
		items,
		nextCursor: more && items.length ? encodeCursor(keyOf(items[items.length - 1])) : null,
		...(total != null ? { total } : {})
	};
}

/** A list that is small by nature (nodes, profiles): one page. */
export function wholeList<T>(items: T[]): Page<T> {
	return { items, nextCursor: null, total: items.length };
}

/** The JSON Schema of a list page around its item schema: what a list action declares as its `answer`. */
export function pageOf<T extends TSchema>(item: T) {
	return Closed({
		items: Type.Array(item),
		nextCursor: Nullable(Type.String({ description: "pass back as `cursor` for the next page; null: the last" })),
		total: Type.Optional(Type.Integer({ minimum: 0 }))
	});
}
