import { describe, expect, it } from "vitest";
import {
	buildControllerSpec,
	decodeFrame,
	DecodeError,
	parsePayload,
	parseTimestamp,
	parseTopic,
	scaled
} from "../../services/pipeline-decode/decode";
import { mayPublish, maySubscribe } from "../../services/pipeline-ingest/mqtt-broker";
import { copyText, readingProblem } from "../../services/shared/pipeline/storage";
import { encodeFrame, FACES2_LAYOUT, controllerTopic } from "../../services/simulator/controllers-frames";
import { errorMessage } from "../../services/shared/error-message";
import { decodeBatch, rawMessagesOf } from "../../services/pipeline-decode/decode-batch";
import { packRawBatch, unpackRawBatch, type RawEntry } from "../../services/shared/contracts";

const spec = buildControllerSpec(
	{ id: 7, mac: "aa:bb:cc:dd:ee:01" },
	[
		{ sensor: 1, frame_length: 8 },
		{ sensor: 2, frame_length: 12 }
	],
	[
		{ id: 11, label: "temperature", decoding: { sensor: 1, offset: 0, type: "int16be", scale: 0.01 } },
		{ id: 12, label: "humidity", decoding: { sensor: 1, offset: 2, type: "uint16be", scale: 0.01 } },
		{ id: 13, label: "pressure", decoding: { sensor: 1, offset: 4, type: "uint32be", scale: 0.01 } },
		{ id: 14, label: "voltage", decoding: { sensor: 2, offset: 0, type: "uint16be", scale: 0.1 } },
		{ id: 15, label: "current", decoding: { sensor: 2, offset: 2, type: "int16be", scale: 0.001 } },
		{ id: 16, label: "power", decoding: { sensor: 2, offset: 4, type: "float32be", scale: 1 } },
		{ id: 17, label: "energy", decoding: { sensor: 2, offset: 8, type: "uint32be", scale: 1, add: 5 } },
		{ id: 18, label: "serial-only", decoding: { key: "x" } }
	]
);

function code(fn: () => unknown): string {
	try {
		fn();
	} catch (err) {
		return err instanceof DecodeError ? err.code : `not a DecodeError: ${errorMessage(err)}`;
	}
	return "no error";
}

describe("pipeline decode: topics", () => {
	it("parses the FACES2 topic into MAC, mode and sensor", () => {
		expect(parseTopic("stat/f2-AABBCCDDEE01/sensor-mode/normal/sensor-2")).toEqual({
			kind: "stat",
			mac: "aa:bb:cc:dd:ee:01",
			commonName: "f2-aabbccddee01",
			mode: "normal",
			sensor: 2
		});
		expect(parseTopic("tele/f2-aabbccddee04/sensor-mode/1/sensor-1").kind).toBe("tele");
	});

	it("refuses other shapes", () => {
		for (const t of [
			"stat/f2-aabbccddee0/sensor-mode/x/sensor-1",
			"stat/aabbccddee01/sensor-mode/x/sensor-1",
			"cmnd/f2-aabbccddee01/sensor-mode/x/sensor-1",
			"stat/f2-aabbccddee01/sensor-mode/x/sensor-a",
			"stat/f2-aabbccddee01/mode/x/sensor-1"
		]) {
			expect(
				code(() => parseTopic(t)),
				t
			).toBe("BAD_TOPIC");
		}
	});
});

describe("pipeline decode: payloads and timestamps", () => {
	const now = Date.UTC(2026, 0, 1);
	it("accepts epoch seconds, epoch milliseconds and ISO 8601", () => {
		expect(parseTimestamp(1767225000, now)).toBe(1767225000_000);
		expect(parseTimestamp(1767225000123, now)).toBe(1767225000123);
		expect(parseTimestamp("2025-12-31T23:00:00.500Z", now)).toBe(Date.UTC(2025, 11, 31, 23, 0, 0, 500));
		expect(parseTimestamp("1767225000", now)).toBe(1767225000_000);
	});

	it("refuses timestamps before 2000 or more than 5 minutes ahead", () => {
		expect(code(() => parseTimestamp(0, now))).toBe("TIMESTAMP_OUT_OF_RANGE");
		expect(code(() => parseTimestamp(now + 6 * 60_000, now))).toBe("TIMESTAMP_OUT_OF_RANGE");
		expect(parseTimestamp(now + 4 * 60_000, now)).toBe(now + 4 * 60_000);
		expect(code(() => parseTimestamp("yesterday", now))).toBe("BAD_TIMESTAMP");
		expect(code(() => parseTimestamp(undefined, now))).toBe("BAD_TIMESTAMP");
	});

	it("refuses payloads that are not JSON objects with a hex data string", () => {
		expect(code(() => parsePayload("nope", now))).toBe("BAD_PAYLOAD");
		expect(code(() => parsePayload("[1]", now))).toBe("BAD_PAYLOAD");
		expect(code(() => parsePayload(JSON.stringify({ timestamp: now }), now))).toBe("BAD_PAYLOAD");
		expect(code(() => parsePayload(JSON.stringify({ timestamp: now, data: "0g12" }), now))).toBe("BAD_HEX");
		expect(code(() => parsePayload(JSON.stringify({ timestamp: now, data: "abc" }), now))).toBe("BAD_HEX");
		expect(parsePayload(JSON.stringify({ timestamp: now, data: "0x0A0b" }), now).bytes).toEqual(
			Buffer.from([10, 11])
		);
	});

	it("reads the controllers' compact payload from the bytes as JSON.parse reads it, or refuses it alike", () => {
		const ts = now - 1000;
		const outcome = (p: Buffer | string) => {
			try {
				const f = parsePayload(p, now);
				return { ts: f.ts, hex: f.bytes.toString("hex") };
			} catch (err) {
				return { code: (err as DecodeError).code, message: errorMessage(err) };
			}
		};
		const payloads = [
			`{"timestamp":${ts},"data":"0864ff10"}`,
			`{"timestamp":${ts},"data":"0A0bCcDd"}`,
			`{"timestamp":${ts},"data":""}`,
			`{"timestamp":${Math.floor(ts / 1000)},"data":"00"}`,
			`{"timestamp":0${ts},"data":"00"}`,
			`{"timestamp":0,"data":"00"}`,
			`{"timestamp":${ts}1,"data":"00"}`,
			`{"timestamp":999999999999999999,"data":"00"}`,
			`{"timestamp":${ts}.5,"data":"00"}`,
			`{"timestamp":-${ts},"data":"00"}`,
			`{"timestamp":"${ts}","data":"00"}`,
			`{"timestamp":${ts},"data":"0x0a"}`,
			`{"timestamp":${ts},"data":"abc"}`,
			`{"timestamp":${ts},"data":"0g"}`,
			`{"timestamp":${ts},"data":"00"} `,
			`{"timestamp":${ts},"data":"00\\"}`,
			`{"timestamp":${ts},"data":"00"`,
			`{"timestamp":${ts}, "data":"00"}`,
			`{"timestamp":${ts},"data":"00","x":1}`,
			`{"timestamp":${ts},"timestamp":1,"data":"00"}`,
			`{"timestamp":`,
			`{"timestamp":${ts},"data":"`,
			`{"timestamp":${ts},"data":"0`
		];
		for (const p of payloads) {
			// A string takes JSON.parse; the same bytes as a Buffer (as MQTT delivers them) take the fast path first.
			expect(outcome(Buffer.from(p)), p).toEqual(outcome(p));
		}
		expect(outcome(Buffer.from(payloads[0]))).toEqual({ ts, hex: "0864ff10" });
	});
});

describe("pipeline decode: scaling", () => {
	const slow = (raw: number, scale: number, add: number) => Number((raw * scale + add).toPrecision(12));
	const scales = [1, 0.1, 0.01, 0.001, 1e-6, 0.5, 2, 10, 0.03];
	const adds = [0, 5, -5, 0.3, -0.3, 0.05, 273.15, -273.15, 0.1, 1e6];

	it("gives the 12-digit rounding's value for every 16-bit raw value, scale and add", () => {
		let mismatches = 0;
		for (const scale of scales)
			for (const add of adds)
				for (let raw = -32768; raw <= 65535; raw += scale === 0.01 ? 1 : 13)
					if (!Object.is(scaled(raw, scale, add), slow(raw, scale, add))) mismatches++;
		expect(mismatches).toBe(0);
	});

	it("and for 32-bit raw values, near-cancelling adds and fractional raw values", () => {
		const raws = [-2147483648, 2147483647, 4294967295, -3, 3, -30, 30, 0, -1, 1, 1.5, -0.25, 2150, 123456789];
		for (let i = 0; i < 500; i++) raws.push(Math.floor((Math.random() - 0.3) * 4294967296));
		const mismatches: string[] = [];
		for (const raw of raws)
			for (const scale of scales)
				for (const add of adds)
					if (!Object.is(scaled(raw, scale, add), slow(raw, scale, add)))
						mismatches.push(`${raw} ${scale} ${add}`);
		expect(mismatches).toEqual([]);
		expect(scaled(2150, 0.01, 0)).toBe(21.5);
		expect(scaled(-3, 0.1, 0.3)).toBe(slow(-3, 0.1, 0.3));
	});
});

describe("pipeline decode: frames from metadata", () => {
	const ts = Date.UTC(2025, 5, 1);

	it("decodes every datapoint of a sensor frame with its type, offset and scale", () => {
		const hex = "0866" + "1194" + "00018be1"; // 21.50 °C, 45.00 %, 1013.45 hPa
		const readings = decodeFrame(spec, 1, { ts, bytes: Buffer.from(hex, "hex") });
		expect(readings).toEqual([
			{ deviceId: 7, datapointId: 11, value: 21.5, ts },
			{ deviceId: 7, datapointId: 12, value: 45, ts },
			{ deviceId: 7, datapointId: 13, value: 1013.45, ts }
		]);
	});

	it("handles signed values, floats and an additive offset", () => {
		const buf = Buffer.alloc(12);
		buf.writeUInt16BE(2301, 0);
		buf.writeInt16BE(-1500, 2);
		buf.writeFloatBE(-12.25, 4);
		buf.writeUInt32BE(4_000_000_000, 8);
		const values = decodeFrame(spec, 2, { ts, bytes: buf }).map(r => r.value);
		expect(values).toEqual([230.1, -1.5, -12.25, 4_000_000_005]);
	});

	it("round-trips the simulator's encoder", () => {
		const hex = encodeFrame(FACES2_LAYOUT[1], { temperature: -7.25, humidity: 99.99, pressure: 987.65 });
		expect(decodeFrame(spec, 1, { ts, bytes: Buffer.from(hex, "hex") }).map(r => r.value)).toEqual([
			-7.25, 99.99, 987.65
		]);
		expect(controllerTopic("AA:BB:CC:DD:EE:03", 2)).toBe("stat/f2-aabbccddee03/sensor-mode/normal/sensor-2");
	});

	it("refuses unknown sensors and frames of the wrong length", () => {
		expect(code(() => decodeFrame(spec, 3, { ts, bytes: Buffer.alloc(8) }))).toBe("UNKNOWN_SENSOR");
		expect(code(() => decodeFrame(spec, 1, { ts, bytes: Buffer.alloc(7) }))).toBe("WRONG_LENGTH");
		expect(code(() => decodeFrame(spec, 1, { ts, bytes: Buffer.alloc(9) }))).toBe("WRONG_LENGTH");
	});

	it("reports metadata that does not fit the frame instead of reading out of bounds", () => {
		const broken = buildControllerSpec(
			{ id: 1, mac: "m" },
			[{ sensor: 1, frame_length: 4 }],
			[{ id: 1, label: "x", decoding: { sensor: 1, offset: 2, type: "int32be" } }]
		);
		expect(code(() => decodeFrame(broken, 1, { ts, bytes: Buffer.alloc(4) }))).toBe("BAD_METADATA");
		const unknownType = buildControllerSpec(
			{ id: 1, mac: "m" },
			[{ sensor: 1, frame_length: 4 }],
			[{ id: 1, label: "x", decoding: { sensor: 1, offset: 0, type: "int24be" } }]
		);
		expect(code(() => decodeFrame(unknownType, 1, { ts, bytes: Buffer.alloc(4) }))).toBe("BAD_METADATA");
	});
});

describe("pipeline ACL (embedded broker, same rules as docker/mosquitto/acl)", () => {
	it("lets a controller publish only under its own stat/ and tele/ topics", () => {
		expect(mayPublish("f2-aabbccddee01", "stat/f2-aabbccddee01/sensor-mode/n/sensor-1")).toBe(true);
		expect(mayPublish("f2-aabbccddee01", "tele/f2-aabbccddee01/sensor-mode/n/sensor-1")).toBe(true);
		expect(mayPublish("f2-aabbccddee01", "stat/f2-aabbccddee02/sensor-mode/n/sensor-1")).toBe(false);
		expect(mayPublish("f2-aabbccddee01", "cmnd/f2-aabbccddee01/x")).toBe(false);
		expect(mayPublish("f2-aabbccddee01", "stat/f2-aabbccddee01")).toBe(false);
		expect(maySubscribe("f2-aabbccddee01", "cmnd/f2-aabbccddee01/#")).toBe(true);
		expect(maySubscribe("f2-aabbccddee01", "stat/#")).toBe(false);
	});
});

describe("pipeline sink input", () => {
	it("names what is wrong with a reading", () => {
		expect(readingProblem({ deviceId: 1, datapointId: 2, value: 1.5, ts: 1_700_000_000_000 })).toBeNull();
		expect(readingProblem({ deviceId: 1, datapointId: 2, value: 1.5, ts: "2025-01-01T00:00:00Z" })).toBeNull();
		expect(readingProblem({ deviceId: 0, datapointId: 2, value: 1, ts: 1 })).toMatch(/deviceId/);
		expect(readingProblem({ deviceId: 2 ** 31, datapointId: 2, value: 1, ts: 1 })).toMatch(/deviceId/);
		expect(readingProblem({ deviceId: 1, datapointId: 2, value: NaN, ts: 1 })).toMatch(/value/);
		expect(readingProblem({ deviceId: 1, datapointId: 2, value: "3", ts: 1 })).toMatch(/value/);
		expect(readingProblem({ deviceId: 1, datapointId: 2, value: 3, ts: "soon" })).toMatch(/ts/);
		expect(readingProblem(null)).toMatch(/object/);
	});

	it("writes COPY text lines", () => {
		expect(copyText([{ ts: Date.UTC(2025, 0, 1), deviceId: 1, datapointId: 2, value: 1e-7 }])).toBe(
			"2025-01-01T00:00:00.000Z\t1\t2\t1e-7\n"
		);
	});
});

describe("iot.raw packed batches", () => {
	const entries: RawEntry[] = [
		{
			topic: "stat/f2-aabbccddee01/sensor-mode/normal/sensor-1",
			payload: Buffer.from('{"a":1}'),
			receivedAt: 1.7e12
		},
		{
			topic: "tele/f2-aabbccddee02/sensor-mode/normal/sensor-2",
			payload: Buffer.from([0xff, 0, 0xfe]),
			receivedAt: 1
		},
		{ topic: "stat/f2-aabbccddee01/sensor-mode/normal/sensor-1", payload: Buffer.alloc(0), receivedAt: 1.7e12 + 5 }
	];

	it("round-trips topics, times and binary payloads, each topic once", () => {
		const packed = packRawBatch(entries);
		expect(packed.topics).toHaveLength(2);
		const back = unpackRawBatch(JSON.parse(JSON.stringify(packed)));
		expect(back.map(e => [e.topic, e.receivedAt, e.payload.toString("hex")])).toEqual(
			entries.map(e => [e.topic, e.receivedAt, e.payload.toString("hex")])
		);
	});

	it("refuses a malformed batch with a reason", () => {
		const packed = packRawBatch(entries);
		const cut = Buffer.from(packed.packed, "base64").subarray(0, 20).toString("base64");
		expect(() => unpackRawBatch({ ...packed, packed: cut })).toThrow(/malformed|cut short/);
		expect(() => unpackRawBatch({ ...packed, topics: [] })).toThrow(/malformed/);
		expect(() => rawMessagesOf({ messages: "x" })).toThrow(/neither packed entries nor a messages array/);
	});

	it("decodes packed entries and the first shape alike; binary payloads dead-letter as base64", async () => {
		const spec = buildControllerSpec(
			{ id: 7, mac: "aa:bb:cc:dd:ee:01" },
			[{ sensor: 1, frame_length: 2 }],
			[{ id: 70, label: "t", decoding: { sensor: 1, offset: 0, type: "int16be", scale: 0.5 } }]
		);
		const lookup = async (macs: string[]) =>
			new Map(macs.map(m => [m, m === spec.mac ? spec : { unknown: true as const, mac: m }]));
		const now = 1.8e12;
		const frame = Buffer.from(JSON.stringify({ timestamp: now - 1000, data: "0010" }));
		const good = { topic: entries[0].topic, payload: frame, receivedAt: now };
		const packed = await decodeBatch(rawMessagesOf(packRawBatch([good, entries[1]])), lookup, now);
		const legacy = await decodeBatch(
			rawMessagesOf({
				messages: [
					{ topic: good.topic, payload: frame.toString("base64"), receivedAt: new Date(now).toISOString() }
				]
			}),
			lookup,
			now
		);
		expect(packed.dead.map(d => d.reason)).toEqual(["BAD_PAYLOAD: payload is not JSON"]);
		expect(packed.readings).toEqual([{ deviceId: 7, datapointId: 70, value: 8, ts: now - 1000 }]);
		expect(legacy.readings).toEqual(packed.readings);
		expect(packed.dead).toHaveLength(1);
		expect(packed.dead[0].data).toMatchObject({ payloadBase64: "/wD+", receivedAt: new Date(1).toISOString() });
	});
});
