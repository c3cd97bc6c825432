/**
 * Which devices a caller may see and reference, by the one authorization policy
 * (mixins/authorization.ts): a user its own devices, an admin and the mesh itself all. A device
 * the caller may not see does not exist for it (404 in a path, 422 in a body).
 *
 * Rules, schedules and runs reference several devices; they are visible to a user when every
 * device they reference is.
 */
import type { Context } from "moleculer";
import { callerOf, isAdmin, mayAccessOwner, ownerCondition, type Caller } from "../../mixins/authorization";
import type { Sql } from "../../mixins/db.mixin";

export type { Caller };
export { callerOf };

export interface DeviceInfo {
	id: number;
	status: string | null;
	nodeID: string | null;
}

/** The devices among `ids` this caller may see, keyed by id (one query for a whole body). */
export async function visibleDevices(
	db: Sql,
	ctx: Pick<Context, "meta">,
	ids: number[]
): Promise<Map<number, DeviceInfo>> {
	const out = new Map<number, DeviceInfo>();
	if (!ids.length) return out;
	const caller = callerOf(ctx);
	const rows = await db.query("SELECT id, owner, status, node_id FROM devices WHERE id = ANY($1::int[])", [
		[...new Set(ids)]
	]);
	for (const r of rows) {
		if (mayAccessOwner(caller, r.owner))
			out.set(Number(r.id), { id: Number(r.id), status: r.status, nodeID: r.node_id });
	}
	return out;
}

/**
 * SQL condition: every id in the array column `col` is a device this caller may see ("true" for admins and services).
 */
export function visibleArraySql(ctx: Pick<Context, "meta">, col: string, params: unknown[]): string {
	const caller = callerOf(ctx);
	if (isAdmin(caller)) return "true";
	const owned = ownerCondition(caller, "owner", v => `$${params.push(v)}`);
	return `${col} <@ COALESCE((SELECT array_agg(id) FROM devices WHERE ${owned}), '{}'::int[])`;
}
