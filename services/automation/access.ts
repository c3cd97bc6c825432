/**
 * Who may see and reference which devices. One place, so the service switches to the mesh-wide
 * authorization policy by changing only this file: a user sees the devices it owns
 * (`devices.owner` is its id or email), an admin sees all; calls from other services (no user)
 * see all. A device the caller may not see does not exist for it.
 */
import type { Sql } from "../../mixins/db.mixin";

export interface Viewer {
	id: number | string;
	email?: string;
	is_admin?: boolean;
}

export interface DeviceInfo {
	id: number;
	owner: string | null;
	status: string | null;
	nodeID: string | null;
}

export function canSee(viewer: Viewer | undefined, owner: string | null): boolean {
	if (!viewer || viewer.is_admin) return true;
	if (owner == null) return false;
	return owner === String(viewer.id) || (!!viewer.email && owner === viewer.email);
}

/** The owner values that mean "this viewer" (for SQL `owner = ANY(...)`); null: sees everything. */
export function ownerKeys(viewer: Viewer | undefined): string[] | null {
	if (!viewer || viewer.is_admin) return null;
	return [String(viewer.id), ...(viewer.email ? [viewer.email] : [])];
}

/** The devices among `ids` this viewer may see, keyed by id. */
export async function visibleDevices(db: Sql, viewer: Viewer | undefined, ids: number[]): Promise<Map<number, DeviceInfo>> {
	const out = new Map<number, DeviceInfo>();
	if (!ids.length) return out;
	const rows = await db.query("SELECT id, owner, status, node_id FROM devices WHERE id = ANY($1::int[])", [[...new Set(ids)]]);
	for (const r of rows) {
		if (canSee(viewer, r.owner)) out.set(Number(r.id), { id: Number(r.id), owner: r.owner, status: r.status, nodeID: r.node_id });
	}
	return out;
}

/** SQL condition: every id of the array column `col` is a device this viewer owns ("true" for admins). */
export function ownedArraySql(viewer: Viewer | undefined, col: string, params: unknown[]): string {
	const keys = ownerKeys(viewer);
	if (!keys) return "true";
	params.push(keys);
	return `${col} <@ COALESCE((SELECT array_agg(id) FROM devices WHERE owner = ANY($${params.length}::text[])), '{}'::int[])`;
}
