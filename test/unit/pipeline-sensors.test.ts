/** The checks of a controller's sensors body the params schema cannot express (services/pipeline-decode/sensors.ts). */
import { describe, expect, it } from "vitest";
import { checkSensors } from "../../services/pipeline-decode/sensors";
import type { SensorInput } from "../../services/shared/contracts/controller-sensors";
import { FIELD_TYPES } from "../../services/shared/contracts/faces2";

const sensor = (datapoints: SensorInput["datapoints"], frameLength = 8, n = 1): SensorInput => ({
	sensor: n,
	name: "env",
	frameLength,
	datapoints
});

describe("checkSensors", () => {
	it("accepts every field that ends exactly at the frame's end", () => {
		for (const [type, t] of Object.entries(FIELD_TYPES))
			expect(
				checkSensors([sensor([{ label: "x", offset: 8 - t.size, type: type as keyof typeof FIELD_TYPES }])]),
				type
			).toEqual([]);
	});

	it("names the offset that reads past the frame and the offsets allowed", () => {
		const [p] = checkSensors([sensor([{ label: "x", offset: 6, type: "uint32be" }])]);
		expect(p).toMatchObject({ field: "sensors[0].datapoints[0].offset", actual: 6, expected: "0..4" });
		expect(p.message).toMatch(
			/uint32be \(4 bytes\) reads past the 8-byte frame of sensor 1: offset must be 0\.\.4/
		);
		const [short] = checkSensors([sensor([{ label: "x", offset: 0, type: "float64be" }], 4)]);
		expect(short.expected).toBe("a type of at most 4 bytes");
	});

	it("refuses a type the decoder does not have, listing the ones it has", () => {
		const [p] = checkSensors([sensor([{ label: "x", offset: 0, type: "uint24be" as never }])]);
		expect(p).toMatchObject({ field: "sensors[0].datapoints[0].type", actual: "uint24be" });
		expect(p.expected).toEqual(Object.keys(FIELD_TYPES));
	});

	it("refuses a label used twice on the controller (in any sensor, any case) and a sensor number used twice", () => {
		const problems = checkSensors([
			sensor([{ label: "temp", offset: 0, type: "int16be" }]),
			sensor([{ label: "Temp", offset: 0, type: "int16be" }], 8, 2),
			sensor([], 8, 2)
		]);
		expect(problems.map(p => [p.field, p.actual])).toEqual([
			["sensors[1].datapoints[0].label", "Temp"],
			["sensors[2].sensor", 2]
		]);
	});
});
