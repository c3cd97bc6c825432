/**
 * Filters that take an id or a name alike (docs/api.md): `device=5` or `device=Arduino%20Uno`,
 * `owner=7` or `owner=ops@example.com`. One resolver for every list route, so each says the same
 * thing for the same input:
 * - a number (or a string of digits) is the id, used as given;
 * - a name is compared case-insensitively among what the caller may see (a name of a device the
 *   caller may not see is no match: no existence oracle);
 * - a name no row has matches nothing (as an unknown id does): the id 0, which no row has;
 * - a name several rows share answers 422 naming the field and asking for the id.
 */
import { UnprocessableError } from "../services/shared/errors";
import { INT32_MAX } from "../services/shared/params";
import { ownerCondition, type Caller } from "./authorization";
import type { Sql } from "./db.mixin";

/** The params schema of an id-or-name filter (optional). */
export function refParam(maxName = 200) {
	return [
		{ type: "number", integer: true, positive: true, max: INT32_MAX, convert: true, optional: true },
		{ type: "string", min: 1, max: maxName, optional: true }
	] as const;
}

/** The id a name or id stands for (0: no match), or undefined when the filter is absent. */
export async function resolveRef(
	field: string,
	value: number | string | undefined,
	byName: (name: string) => Promise<Array<{ id: number | string }>>
): Promise<number | undefined> {
	if (value == null || value === "") return undefined;
	if (typeof value === "number") return value;
	if (/^\d+$/.test(value)) return Number(value);
	const rows = await byName(value);
	if (rows.length > 1)
		throw new UnprocessableError(`Several match the ${field} '${value}': filter by its id instead`, [
			{ field, message: "the name is ambiguous: give the id", value }
		]);
	return rows.length ? Number(rows[0].id) : 0;
}

/** A `device=` filter: a device id, or the name of a device the caller may see. */
export function resolveDevice(sql: Sql, value: number | string | undefined, caller: Caller | null, field = "device") {
	return resolveRef(field, value, name => {
		const values: unknown[] = [name];
		const own = ownerCondition(caller, "owner", v => `$${values.push(v)}`);
		return sql.query<{ id: number }>(
			`SELECT id FROM devices WHERE lower(name) = lower($1) ${own ? `AND ${own}` : ""} ORDER BY id LIMIT 2`,
			values
		);
	});
}

/** An `owner=` (user) filter: a user id, or a user's e-mail address. */
export function resolveUser(sql: Sql, value: number | string | undefined, field = "owner") {
	return resolveRef(field, value, email =>
		sql.query<{ id: number }>("SELECT id FROM t_users WHERE email = lower($1) ORDER BY id LIMIT 2", [email.trim()])
	);
}
