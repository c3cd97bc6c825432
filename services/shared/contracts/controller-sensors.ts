/**
 * The HTTP contract for a field controller's sensors and their decoding
 * (`GET/PUT /api/devices/:id/sensors`, served by pipeline-decode): what a sensor frame is, and
 * where each datapoint's value is in it. Stored as `pipeline_sensors` rows and
 * `datapoints.decoding` JSON (`{ sensor, offset, type, scale, add }`); frame format in
 * docs/pipeline.md. The field types are the decoder's own (FIELD_TYPES), so the API can never
 * accept a type the decoder cannot read.
 */
import { FIELD_TYPES, type FieldType } from "./faces2";
import { Closed, Id, Nullable, Type, type Static } from "./schema";

/** Bounds of the stored metadata (sql/310_pipeline_metadata.sql checks frame_length too). */
export const SENSOR_LIMITS = {
	maxSensorNumber: 9999,
	maxFrameLength: 1024,
	maxSensors: 64,
	maxDatapointsPerSensor: 256
} as const;

export const FIELD_TYPE_NAMES = Object.keys(FIELD_TYPES) as FieldType[];

/** One datapoint of a sensor: its value is `raw(type at offset) * scale + add`. */
export interface SensorDatapointInput {
	label: string;
	unit?: string | null;
	offset: number;
	type: FieldType;
	scale?: number;
	add?: number;
}

export interface SensorInput {
	sensor: number;
	name: string;
	frameLength: number;
	datapoints: SensorDatapointInput[];
}

/** As answered: datapoints with their ids (the `datapointId` of readings), defaults filled in. */
export const SensorDatapoint = Closed({
	id: Id(),
	label: Type.String(),
	unit: Nullable(Type.String()),
	offset: Type.Integer({ minimum: 0 }),
	type: Type.Unsafe<FieldType>({ type: "string", enum: FIELD_TYPE_NAMES }),
	scale: Type.Number(),
	add: Type.Number()
});
export type SensorDatapoint = Static<typeof SensorDatapoint>;

export const Sensor = Closed({
	sensor: Type.Integer({ minimum: 0, maximum: SENSOR_LIMITS.maxSensorNumber }),
	name: Type.String(),
	frameLength: Type.Integer({ minimum: 1, maximum: SENSOR_LIMITS.maxFrameLength }),
	datapoints: Type.Array(SensorDatapoint)
});
export type Sensor = Static<typeof Sensor>;

/** fastest-validator params of `PUT /api/devices/:id/sensors` (the body: every sensor of the controller). */
export const SENSORS_BODY_PARAMS = {
	sensors: {
		type: "array",
		max: SENSOR_LIMITS.maxSensors,
		items: {
			type: "object",
			strict: true,
			props: {
				sensor: { type: "number", integer: true, min: 0, max: SENSOR_LIMITS.maxSensorNumber },
				name: { type: "string", min: 1, max: 100 },
				frameLength: { type: "number", integer: true, min: 1, max: SENSOR_LIMITS.maxFrameLength },
				datapoints: {
					type: "array",
					max: SENSOR_LIMITS.maxDatapointsPerSensor,
					items: {
						type: "object",
						strict: true,
						props: {
							label: { type: "string", min: 1, max: 100, pattern: /^[^\s].*$/ },
							unit: { type: "string", max: 32, optional: true, nullable: true },
							offset: { type: "number", integer: true, min: 0, max: SENSOR_LIMITS.maxFrameLength - 1 },
							type: { type: "enum", values: FIELD_TYPE_NAMES },
							scale: { type: "number", optional: true, default: 1 },
							add: { type: "number", optional: true, default: 0 }
						}
					}
				}
			}
		}
	}
} as const;

/** fastest-validator params of `PUT /api/devices/:id/sensors/:sensor` (one sensor; its number is in the path). */
export const SENSOR_BODY_PARAMS = {
	name: SENSORS_BODY_PARAMS.sensors.items.props.name,
	frameLength: SENSORS_BODY_PARAMS.sensors.items.props.frameLength,
	datapoints: SENSORS_BODY_PARAMS.sensors.items.props.datapoints
} as const;

/** `DELETE /api/devices/:id/sensors/:sensor`. */
export const SensorDeleted = Closed({ id: Id(), sensor: Sensor.properties.sensor, deleted: Type.Literal(true) });
