/** The decoding metadata the decoder reads from PostgreSQL (devices, pipeline_sensors, datapoints). */
import type { Sql } from "../../mixins/db/database";
import { buildControllerSpec, type ControllerSpec } from "./decode";

/** Advances whenever devices.mac, datapoints or pipeline_sensors change (sql/320_…). */
export async function metadataVersion(db: Sql): Promise<string> {
	const [r] = await db.query<{ last_value: string; is_called: boolean }>(
		"SELECT last_value, is_called FROM pipeline_metadata_seq"
	);
	return r.is_called ? String(r.last_value) : "0";
}

/** The decoding metadata of the controller with this MAC, or null when the MAC is unknown. */
export async function loadControllerSpec(db: Sql, mac: string): Promise<ControllerSpec | null> {
	const devices = await db.query<{ id: number; mac: string }>(
		"SELECT id, mac FROM devices WHERE lower(mac) = lower($1)",
		[mac]
	);
	if (devices.length === 0) return null;
	const device = devices[0];
	const sensors = await db.query<{ sensor: number; frame_length: number }>(
		"SELECT sensor, frame_length FROM pipeline_sensors WHERE device_id = $1 ORDER BY sensor",
		[device.id]
	);
	const datapoints = await db.query<{ id: number; label: string; decoding: Record<string, unknown> | null }>(
		"SELECT id, label, decoding FROM datapoints WHERE device_id = $1 ORDER BY id",
		[device.id]
	);
	return buildControllerSpec(device, sensors, datapoints);
}

/**
 * The decoding metadata of up to `limit` controllers in three queries (the decoder's warm-up:
 * one lookup per controller would be three queries each). Only MACs in the form topics carry
 * (lower-case, colon-separated), the key the per-controller lookup is cached under.
 */
export async function loadControllerSpecs(db: Sql, limit: number): Promise<ControllerSpec[]> {
	const devices = await db.query<{ id: number; mac: string }>(
		"SELECT id, lower(mac) AS mac FROM devices WHERE lower(mac) ~ '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$' " +
			"ORDER BY id LIMIT $1",
		[limit]
	);
	if (devices.length === 0) return [];
	const ids = devices.map(d => d.id);
	const sensors = await db.query<{ device_id: number; sensor: number; frame_length: number }>(
		"SELECT device_id, sensor, frame_length FROM pipeline_sensors WHERE device_id = ANY($1::int[]) " +
			"ORDER BY device_id, sensor",
		[ids]
	);
	const datapoints = await db.query<{
		device_id: number;
		id: number;
		label: string;
		decoding: Record<string, unknown> | null;
	}>(
		"SELECT device_id, id, label, decoding FROM datapoints WHERE device_id = ANY($1::int[]) ORDER BY device_id, id",
		[ids]
	);
	const byDevice = <T extends { device_id: number }>(rows: T[]) => {
		const m = new Map<number, T[]>();
		for (const r of rows) {
			const list = m.get(r.device_id);
			if (list) list.push(r);
			else m.set(r.device_id, [r]);
		}
		return m;
	};
	const sensorsOf = byDevice(sensors);
	const datapointsOf = byDevice(datapoints);
	return devices.map(d => buildControllerSpec(d, sensorsOf.get(d.id) ?? [], datapointsOf.get(d.id) ?? []));
}
