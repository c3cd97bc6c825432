/**
 * Device registry queries (PostgreSQL or PGlite through the db mixin). Plain functions over
 * an `Sql` so the manager's handlers stay thin.
 */
import { ownerCondition, type Caller } from "../../mixins/authorization";
import type { Database, Sql } from "../../mixins/db.mixin";
import type { DeviceStatus } from "../shared/contracts";
import type { DeviceEventView, DeviceRecord } from "../shared/contracts/api";

export interface DeviceRow {
	id: number;
	uid: string | null;
	name: string;
	type: string;
	profile: string | null;
	config: Record<string, unknown>;
	status: DeviceStatus;
	status_reason: string | null;
	/** The owning user's id; null: no one's yet (administrators only). */
	owner: number | null;
	node_id: string | null;
	path: string | null;
	subsystem: string | null;
	vid: string | null;
	pid: string | null;
	serial: string | null;
	mac: string | null;
	port_path: string | null;
	dev_link: string | null;
	address: number | null;
	name_auto: boolean;
	created_at: string | Date;
	updated_at: string | Date;
	last_seen_at: string | Date | null;
}

const iso = (t: string | Date) => (t instanceof Date ? t : new Date(t)).toISOString();

/** A registry row as the API shows a device (the one mapper: column names never reach an answer). */
export function toDeviceRecord(r: DeviceRow): DeviceRecord {
	return {
		id: Number(r.id),
		uid: r.uid,
		name: r.name,
		type: r.type,
		profile: r.profile,
		config: r.config ?? {},
		status: r.status,
		statusReason: r.status_reason,
		owner: r.owner,
		nodeID: r.node_id,
		path: r.path,
		subsystem: r.subsystem,
		vid: r.vid,
		pid: r.pid,
		serial: r.serial,
		mac: r.mac,
		portPath: r.port_path,
		devLink: r.dev_link,
		address: r.address,
		nameAuto: r.name_auto,
		createdAt: iso(r.created_at),
		updatedAt: iso(r.updated_at),
		lastSeen: r.last_seen_at == null ? null : iso(r.last_seen_at)
	};
}

interface DeviceEventRow {
	id?: number | string;
	type: string;
	status: string | null;
	reason: string | null;
	node_id: string | null;
	data: unknown;
	at: string | Date;
}

/** A device_events row as the API shows a lifecycle event. */
export function toDeviceEvent(r: DeviceEventRow): DeviceEventView {
	return {
		...(r.id != null ? { id: Number(r.id) } : {}),
		type: r.type,
		status: r.status,
		reason: r.reason,
		nodeID: r.node_id,
		data: r.data ?? {},
		at: iso(r.at)
	};
}

export interface SeenDevice {
	uid: string;
	name: string;
	type: string;
	profile: string | null;
	nodeID: string;
	path: string;
	subsystem: string;
	vid?: string;
	pid?: string;
	serial?: string;
	portPath?: string;
	devLink?: string;
	address?: number;
}

/**
 * Inserts a newly seen device or refreshes a known one (same uid → same id). A known device
 * keeps a name its user gave it, and is never downgraded from a profile to "unidentified"
 * (its USB parent may be reported after its tty).
 */
export async function upsertSeen(sql: Sql, d: SeenDevice): Promise<{ row: DeviceRow; created: boolean }> {
	const rows = await sql.query<DeviceRow & { inserted: boolean }>(
		`INSERT INTO devices (uid, name, type, profile, node_id, path, subsystem, vid, pid, serial, port_path,
		 dev_link, address, status, last_seen_at)
		 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'detected', now())
		 ON CONFLICT (uid) DO UPDATE SET
		   node_id = EXCLUDED.node_id, path = EXCLUDED.path,
		   subsystem = CASE WHEN EXCLUDED.profile IS NOT NULL OR devices.profile IS NULL
		     THEN EXCLUDED.subsystem ELSE devices.subsystem END,
		   port_path = COALESCE(EXCLUDED.port_path, devices.port_path), dev_link = EXCLUDED.dev_link,
		   serial = COALESCE(EXCLUDED.serial, devices.serial), address = COALESCE(EXCLUDED.address, devices.address),
		   profile = COALESCE(EXCLUDED.profile, devices.profile),
		   type = CASE WHEN EXCLUDED.profile IS NOT NULL THEN EXCLUDED.type ELSE devices.type END,
		   name = CASE WHEN devices.name_auto AND (EXCLUDED.profile IS NOT NULL OR devices.profile IS NULL)
		     THEN EXCLUDED.name ELSE devices.name END,
		   last_seen_at = now(), updated_at = now()
		 RETURNING *, (xmax = 0) AS inserted`,
		[
			d.uid,
			d.name,
			d.type,
			d.profile,
			d.nodeID,
			d.path,
			d.subsystem,
			d.vid ?? null,
			d.pid ?? null,
			d.serial ?? null,
			d.portPath ?? null,
			d.devLink ?? null,
			d.address ?? null
		]
	);
	const { inserted, ...row } = rows[0];
	return { row: row as DeviceRow, created: !!inserted };
}

/**
 * Records a status transition; false when the device already had that status (no duplicate event).
 * With `expected`, only while the device still has that status: a write from a status read
 * earlier (a sync's catch-up) never overwrites a newer report that landed meanwhile.
 */
export async function setStatus(
	sql: Sql,
	id: number,
	status: DeviceStatus,
	reason: string | null,
	nodeID: string | null,
	force = false,
	expected: DeviceStatus | null = null
): Promise<boolean> {
	const changed = await sql.query(
		`UPDATE devices SET status = $2, status_reason = $3, updated_at = now()
		 WHERE id = $1 AND ($4 OR status IS DISTINCT FROM $2 OR status_reason IS DISTINCT FROM $3)
		   AND ($5::text IS NULL OR status = $5::text) RETURNING id`,
		[id, status, reason, force, expected]
	);
	if (changed.length === 0) return false;
	await sql.query(
		`INSERT INTO device_events (device_id, type, status, reason, node_id) VALUES ($1, 'status', $2, $3, $4)`,
		[id, status, reason, nodeID]
	);
	return true;
}

/** Creates the profile's datapoints for a device (idempotent) and returns label → id. */
export async function ensureDatapoints(
	sql: Sql,
	deviceId: number,
	defs: Array<{ label: string; unit?: string; key?: string }>
): Promise<Map<string, number>> {
	const map = new Map<string, number>();
	for (const d of defs) {
		const rows = await sql.query<{ id: number }>(
			`INSERT INTO datapoints (device_id, label, unit, decoding) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (device_id, label) DO UPDATE SET unit = EXCLUDED.unit, decoding = EXCLUDED.decoding
			 RETURNING id`,
			[deviceId, d.label, d.unit ?? null, JSON.stringify(d.key ? { key: d.key } : {})]
		);
		map.set(d.label, rows[0].id);
	}
	return map;
}

export function findByUid(sql: Sql, uid: string): Promise<DeviceRow[]> {
	return sql.query<DeviceRow>(`SELECT * FROM devices WHERE uid = $1`, [uid]);
}

export function findOnI2cBus(sql: Sql, nodeID: string, path: string, subsystems: string[]): Promise<DeviceRow[]> {
	return sql.query<DeviceRow>(
		`SELECT * FROM devices WHERE node_id = $1 AND path = $2 AND subsystem = ANY($3::text[])`,
		[nodeID, path, subsystems]
	);
}

export async function getDeviceRow(sql: Sql, id: number): Promise<DeviceRow | null> {
	const rows = await sql.query<DeviceRow>(`SELECT * FROM devices WHERE id = $1`, [id]);
	return rows[0] ?? null;
}

export interface DeviceListFilter {
	status?: string;
	/** The node the device was last seen on (node ids are the nodes' names). */
	node?: string;
	type?: string;
	/** A profile name, compared case-insensitively. */
	profile?: string;
	/** A user id (0: a name that matched no one, so nothing). */
	owner?: number;
	limit: number;
	/** Keyset: only devices with a larger id (the list cursor). */
	afterId?: number;
}

/** Devices the caller may see (the policy's owner filter), in id order, `limit` rows. */
export function listDevices(sql: Sql, f: DeviceListFilter, caller: Caller | null): Promise<DeviceRow[]> {
	const values: unknown[] = [];
	const add = (v: unknown) => `$${values.push(v)}`;
	const where: string[] = [];
	if (f.status) where.push(`status = ${add(f.status)}`);
	if (f.node) where.push(`node_id = ${add(f.node)}`);
	if (f.type) where.push(`type = ${add(f.type)}`);
	if (f.profile) where.push(`lower(profile) = lower(${add(f.profile)})`);
	if (f.owner != null) where.push(`owner = ${add(f.owner)}`);
	if (f.afterId) where.push(`id > ${add(f.afterId)}`);
	const own = ownerCondition(caller, "owner", add);
	if (own) where.push(own);
	return sql.query<DeviceRow>(
		`SELECT * FROM devices ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id LIMIT ${add(f.limit)}`,
		values
	);
}

export interface NewDevice {
	uid?: string;
	name: string;
	type?: string;
	config?: Record<string, unknown>;
	owner: number | null;
	mac?: string;
	nodeID?: string;
	path?: string;
	vid?: string;
	pid?: string;
	serial?: string;
}

/**
 * Registers a device by hand (name given: never renamed automatically); records a 'created' event. Throws the driver's
 * 23505 on a duplicate uid/MAC.
 */
export async function insertDevice(sql: Database, d: NewDevice): Promise<DeviceRow> {
	return sql.transaction(async tx => {
		const rows = await tx.query<DeviceRow>(
			`INSERT INTO devices (uid, name, type, config, owner, mac, node_id, path, vid, pid, serial, name_auto)
			 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,false) RETURNING *`,
			[
				d.uid ?? null,
				d.name,
				d.type ?? "unidentified",
				JSON.stringify(d.config ?? {}),
				d.owner,
				d.mac?.toLowerCase() ?? null,
				d.nodeID ?? null,
				d.path ?? null,
				d.vid?.toLowerCase() ?? null,
				d.pid?.toLowerCase() ?? null,
				d.serial ?? null
			]
		);
		await tx.query(`INSERT INTO device_events (device_id, type, status) VALUES ($1, 'created', $2)`, [
			rows[0].id,
			rows[0].status
		]);
		return rows[0];
	});
}

export interface DeviceChanges {
	name?: string;
	type?: string;
	config?: Record<string, unknown>;
	/** undefined: unchanged; null: no owner. */
	owner?: number | null;
}

/** Applies changes and records an 'updated' event naming the fields. */
export async function updateDevice(sql: Database, id: number, c: DeviceChanges): Promise<DeviceRow | null> {
	return sql.transaction(async tx => {
		const rows = await tx.query<DeviceRow>(
			`UPDATE devices SET name = COALESCE($2, name), name_auto = name_auto AND $2::text IS NULL,
			   type = COALESCE($3, type), config = COALESCE($4::jsonb, config),
			   owner = CASE WHEN $5 THEN $6::integer ELSE owner END, updated_at = now()
			 WHERE id = $1 RETURNING *`,
			[
				id,
				c.name ?? null,
				c.type ?? null,
				c.config ? JSON.stringify(c.config) : null,
				c.owner !== undefined,
				c.owner ?? null
			]
		);
		if (!rows[0]) return null;
		const fields = Object.keys(c).filter(k => (c as Record<string, unknown>)[k] !== undefined);
		await tx.query(`INSERT INTO device_events (device_id, type, data) VALUES ($1, 'updated', $2)`, [
			id,
			JSON.stringify({ fields })
		]);
		return rows[0];
	});
}

export async function deleteDevice(sql: Sql, id: number): Promise<void> {
	await sql.query(`DELETE FROM devices WHERE id = $1`, [id]);
}

export async function recentEvents(sql: Sql, id: number, limit = 20): Promise<DeviceEventView[]> {
	const rows = await sql.query<DeviceEventRow>(
		`SELECT type, status, reason, node_id, data, at FROM device_events
		 WHERE device_id = $1 ORDER BY id DESC LIMIT $2`,
		[id, limit]
	);
	return rows.map(toDeviceEvent);
}

export async function addEvent(sql: Sql, id: number, type: string, data: unknown): Promise<DeviceEventView> {
	const rows = await sql.query<DeviceEventRow>(
		`INSERT INTO device_events (device_id, type, data) VALUES ($1, $2, $3)
		 RETURNING id, type, status, reason, node_id, data, at`,
		[id, type, JSON.stringify(data ?? {})]
	);
	return toDeviceEvent(rows[0]);
}

/** A deleted user's devices belong to no one (administrators only) until reassigned. */
export async function releaseOwner(sql: Sql, userId: number): Promise<number> {
	const rows = await sql.query(`UPDATE devices SET owner = NULL, updated_at = now() WHERE owner = $1 RETURNING id`, [
		userId
	]);
	return rows.length;
}

/** Devices last seen on `nodeID` that are not marked disconnected yet (their node left or stopped). */
export function liveDevicesOn(sql: Sql, nodeID: string): Promise<Array<{ id: number }>> {
	return sql.query<{ id: number }>(`SELECT id FROM devices WHERE node_id = $1 AND status <> 'disconnected'`, [
		nodeID
	]);
}

/** Nodes that hold devices not marked disconnected. */
export async function nodesWithLiveDevices(sql: Sql): Promise<string[]> {
	const rows = await sql.query<{ node_id: string }>(
		`SELECT DISTINCT node_id FROM devices WHERE node_id IS NOT NULL AND status <> 'disconnected'`
	);
	return rows.map(r => r.node_id);
}
