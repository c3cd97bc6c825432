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
