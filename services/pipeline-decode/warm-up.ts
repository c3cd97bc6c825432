/**
 * The decoder's warm-up at start: synthetic iot.raw batches through the code that decodes
 * them (unpack, topic and payload parsing, frame decoding), with a synthetic controller that
 * exists only here. Nothing is looked up, sent or stored: the first real batches then run
 * compiled code with their inline caches filled instead of paying V8's lazy compilation
 * while the load is already queuing.
 */
import { controllerTopic, encodePayload, FACES2_LAYOUT, packRawBatch, type RawEntry } from "../shared/contracts";
import { buildControllerSpec, type ControllerSpec } from "./decode";
import { decodeBatch, rawMessagesOf } from "./decode-batch";

/** The synthetic controller: device 0, which no registered device is. */
const WARM_UP_MAC = "00:00:00:00:00:00";

function warmUpSpec(): ControllerSpec {
	const sensors = Object.entries(FACES2_LAYOUT).map(([n, l]) => ({ sensor: Number(n), frame_length: l.frameLength }));
	let id = 0;
	const datapoints = Object.entries(FACES2_LAYOUT).flatMap(([n, l]) =>
		l.fields.map(f => ({
			id: --id,
			label: f.label,
			decoding: { sensor: Number(n), offset: f.offset, type: f.type, scale: f.scale }
		}))
	);
	return buildControllerSpec({ id: 0, mac: WARM_UP_MAC }, sensors, datapoints);
}

/** Decodes `rounds` synthetic batches of `messages` frames; returns the readings decoded (all discarded). */
export async function warmUpDecode(rounds = 10, messages = 400): Promise<number> {
	const spec = warmUpSpec();
	const lookup = async (macs: string[]) => new Map(macs.map(m => [m, spec] as const));
	const sensors = Object.keys(FACES2_LAYOUT).map(Number);
	let readings = 0;
	for (let r = 0; r < rounds; r++) {
		const now = Date.now();
		const entries: RawEntry[] = [];
		for (let i = 0; i < messages; i++) {
			const sensor = sensors[i % sensors.length];
			const layout = FACES2_LAYOUT[sensor];
			const values = Object.fromEntries(layout.fields.map((f, k) => [f.label, i + k]));
			const payload = Buffer.from(encodePayload(layout, values, now - i));
			entries.push({ topic: controllerTopic(WARM_UP_MAC, sensor), payload, receivedAt: now });
		}
		const decoded = await decodeBatch(rawMessagesOf(packRawBatch(entries)), lookup, now);
		if (decoded.dead.length) throw new Error(`warm-up batch did not decode: ${decoded.dead[0].reason}`);
		readings += decoded.readings.length;
	}
	return readings;
}
