/**
 * A field controller's sensors and decoding, read and replaced as one set
 * (`GET/PUT /api/devices/:id/sensors`). Rows: `pipeline_sensors` (this service's table) and the
 * `decoding` JSON of the controller's `datapoints` (core schema, shared; this service is the one
 * that reads decoding of MQTT frames). The triggers of sql/320_… advance pipeline_metadata_seq on
 * any of these writes, so every decoder drops its cached metadata at its next batch: no restart.
 */
import type { Database, Sql } from "../../mixins/db/database";
import {
	FIELD_TYPE_NAMES,
	type Sensor,
	type SensorDatapoint,
	type SensorInput
} from "../shared/contracts/controller-sensors";
import { FIELD_TYPES } from "../shared/contracts/faces2";

/** One problem with a body, in the shape of the validator's 422 `data` items. */
export interface SensorProblem {
	field: string;
	actual: unknown;
	expected: unknown;
	type: string;
	message: string;
}

/**
 * What the params schema cannot see: each datapoint fits its sensor's frame, sensor numbers and
 * labels are unique across the controller (a label is one datapoint of the device).
 */
export function checkSensors(
	sensors: SensorInput[],
	prefix: (i: number) => string = i => `sensors[${i}].`
): SensorProblem[] {
	const problems: SensorProblem[] = [];
	const numbers = new Map<number, number>();
	const labels = new Map<string, string>();
	sensors.forEach((s, i) => {
		const at = prefix(i);
		const seen = numbers.get(s.sensor);
		if (seen !== undefined)
			problems.push({
				field: `${at}sensor`,
				actual: s.sensor,
				expected: "a sensor number not used by another sensor of this body",
				type: "duplicate",
				message: `The '${at}sensor' field ${s.sensor} is already used by sensors[${seen}].`
			});
		else numbers.set(s.sensor, i);
		s.datapoints.forEach((d, j) => {
			const dp = `${at}datapoints[${j}]`;
			const type = FIELD_TYPES[d.type];
			if (!type) {
				// The params schema refuses it first; kept so the module is safe on its own.
				problems.push({
					field: `${dp}.type`,
					actual: d.type,
					expected: FIELD_TYPE_NAMES,
					type: "enumValue",
					message: `The '${dp}.type' field must be one of ${FIELD_TYPE_NAMES.join(",")} (got '${d.type}').`
				});
			} else if (d.offset + type.size > s.frameLength) {
				const last = s.frameLength - type.size;
				problems.push({
					field: `${dp}.offset`,
					actual: d.offset,
					expected: last >= 0 ? `0..${last}` : `a type of at most ${s.frameLength} bytes`,
					type: "frameOverrun",
					message:
						`The '${dp}.offset' field ${d.offset} with type ${d.type} (${type.size} bytes) reads past ` +
						`the ${s.frameLength}-byte frame of sensor ${s.sensor}: ` +
						(last >= 0 ? `offset must be 0..${last}.` : `the frame is shorter than the type.`)
				});
			}
			const key = d.label.toLowerCase();
			const first = labels.get(key);
			if (first !== undefined)
				problems.push({
					field: `${dp}.label`,
					actual: d.label,
					expected: "a label not used by another datapoint of this controller",
					type: "duplicate",
					message: `The '${dp}.label' field '${d.label}' is already used by ${first}.`
				});
			else labels.set(key, dp);
		});
	});
	return problems;
}

/** The controller's MAC (null: none), or undefined when the device does not exist. */
export async function controllerMac(db: Sql, deviceId: number): Promise<string | null | undefined> {
	const rows = await db.query<{ mac: string | null }>("SELECT mac FROM devices WHERE id = $1", [deviceId]);
	return rows.length ? rows[0].mac : undefined;
}

/** Every sensor of a controller with the datapoints decoded from its frame, by sensor number and offset. */
export async function readSensors(db: Sql, deviceId: number): Promise<Sensor[]> {
	const sensors = await db.query<{ sensor: number; name: string; frame_length: number }>(
		"SELECT sensor, name, frame_length FROM pipeline_sensors WHERE device_id = $1 ORDER BY sensor",
		[deviceId]
	);
	const dps = await db.query<{ id: number; label: string; unit: string | null; decoding: Record<string, unknown> }>(
		`SELECT id, label, unit, decoding FROM datapoints
		 WHERE device_id = $1 AND decoding ? 'sensor' ORDER BY (decoding->>'offset')::int, id`,
		[deviceId]
	);
	const out = sensors.map(s => ({
		sensor: s.sensor,
		name: s.name,
		frameLength: s.frame_length,
		datapoints: [] as SensorDatapoint[]
	}));
	const bySensor = new Map(out.map(s => [s.sensor, s]));
	for (const d of dps) {
		const dec = d.decoding;
		bySensor.get(Number(dec.sensor))?.datapoints.push({
			id: d.id,
			label: d.label,
			unit: d.unit,
			offset: Number(dec.offset ?? 0),
			type: String(dec.type) as SensorDatapoint["type"],
			scale: dec.scale == null ? 1 : Number(dec.scale),
			add: dec.add == null ? 0 : Number(dec.add)
		});
	}
	return out;
}

/**
 * Replaces the controller's sensors and decoding with `sensors`, in one transaction. A datapoint
 * left out keeps its row and its stored readings (decoded_data refers to it); it only stops being
 * decoded (its decoding is emptied). A sensor left out is removed: its frames become dead
 * letters `UNKNOWN_SENSOR`.
 */
export function replaceSensors(db: Database, deviceId: number, sensors: SensorInput[]): Promise<void> {
	return db.transaction(tx => writeSensors(tx, deviceId, sensors));
}

/** The stored form of a sensor as a body would give it (to merge one sensor into the set). */
function toInput(s: Sensor): SensorInput {
	return {
		sensor: s.sensor,
		name: s.name,
		frameLength: s.frameLength,
		datapoints: s.datapoints.map(({ label, unit, offset, type, scale, add }) => ({
			label,
			unit,
			offset,
			type,
			scale,
			add
		}))
	};
}

/**
 * Adds or replaces one sensor of a controller, checked against the others (a label is one
 * datapoint of the whole controller). The device row is locked meanwhile, so two of these at
 * once cannot lose one another's sensor. Problems name fields of the one-sensor body.
 */
export function putSensor(
	db: Database,
	deviceId: number,
	sensor: SensorInput
): Promise<{ created: boolean; problems: SensorProblem[] }> {
	return db.transaction(async tx => {
		await tx.query("SELECT id FROM devices WHERE id = $1 FOR UPDATE", [deviceId]);
		const current = await readSensors(tx, deviceId);
		const others = current.filter(s => s.sensor !== sensor.sensor).map(toInput);
		const merged = [...others, sensor];
		const problems = checkSensors(merged, i => (i === others.length ? "" : `(sensor ${merged[i].sensor}) `));
		if (problems.length) return { created: false, problems };
		await writeSensors(tx, deviceId, merged);
		return { created: others.length === current.length, problems };
	});
}

/** Removes one sensor (its datapoints keep their readings and stop being decoded); false: there was none. */
export function deleteSensor(db: Database, deviceId: number, sensorNo: number): Promise<boolean> {
	return db.transaction(async tx => {
		await tx.query("SELECT id FROM devices WHERE id = $1 FOR UPDATE", [deviceId]);
		const current = await readSensors(tx, deviceId);
		if (!current.some(s => s.sensor === sensorNo)) return false;
		await writeSensors(tx, deviceId, current.filter(s => s.sensor !== sensorNo).map(toInput));
		return true;
	});
}

/** Writes exactly this set of sensors, in the caller's transaction. */
async function writeSensors(tx: Sql, deviceId: number, sensors: SensorInput[]): Promise<void> {
	await tx.query("DELETE FROM pipeline_sensors WHERE device_id = $1 AND NOT (sensor = ANY($2::int[]))", [
		deviceId,
		sensors.map(s => s.sensor)
	]);
	for (const s of sensors)
		await tx.query(
			`INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (device_id, sensor)
			 DO UPDATE SET name = EXCLUDED.name, frame_length = EXCLUDED.frame_length`,
			[deviceId, s.sensor, s.name, s.frameLength]
		);
	const kept = sensors.flatMap(s => s.datapoints.map(d => d.label));
	await tx.query(
		`UPDATE datapoints SET decoding = '{}'::jsonb
		 WHERE device_id = $1 AND decoding ? 'sensor' AND NOT (label = ANY($2::text[]))`,
		[deviceId, kept]
	);
	for (const s of sensors)
		for (const d of s.datapoints) {
			const decoding = {
				sensor: s.sensor,
				offset: d.offset,
				type: d.type,
				scale: d.scale ?? 1,
				add: d.add ?? 0
			};
			// A unit left out keeps the one the datapoint has; null clears it.
			await tx.query(
				`INSERT INTO datapoints (device_id, label, unit, decoding) VALUES ($1, $2, $3, $4::jsonb)
				 ON CONFLICT (device_id, label) DO UPDATE SET decoding = EXCLUDED.decoding,
				   unit = CASE WHEN $5::boolean THEN EXCLUDED.unit ELSE datapoints.unit END`,
				[deviceId, d.label, d.unit ?? null, JSON.stringify(decoding), d.unit !== undefined]
			);
		}
}
