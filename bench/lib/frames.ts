/**
 * The frames the pipeline benchmarks publish, shared by both publishers (bench/pipeline/publisher.ts:
 * mqtt.js or the lean client of bench/lib/lean-mqtt.ts) so that the load does not depend on which
 * one runs: the same topics, the same FACES2 payloads and the same timestamps.
 */
import { controllerTopic, encodePayload, FACES2_LAYOUT } from "../../services/shared/contracts/faces2";
import { simulatedValues } from "../../services/simulator/controllers-frames";

/** Client ids of the publishers start with this: the peers bench tells them from the consumer's in the broker log. */
export const PUBLISHER_CLIENT_PREFIX = "bench-pub-";

export interface Frame {
	/** Index of the controller (its MAC in `macs`), i.e. of the MQTT connection that publishes it. */
	controller: number;
	/** Index of the topic in FrameSource.topics (controller × sensor). */
	slot: number;
	payload: string;
}

/**
 * Frame i goes to controller i % macs.length and cycles through `sensors` once every controller
 * has had one. Its timestamp is its publish time in ms, kept unique per controller and sensor
 * (the rows' primary key; the bench computes publish-to-commit latency from it).
 */
export class FrameSource {
	/** Topic of each slot: controller * sensors.length + sensor index. */
	readonly topics: string[];
	private readonly last: Float64Array;

	constructor(
		readonly macs: string[],
		readonly sensors: number[]
	) {
		this.topics = macs.flatMap(mac => sensors.map(s => controllerTopic(mac, s)));
		this.last = new Float64Array(this.topics.length);
	}

	frame(i: number): Frame {
		const n = this.macs.length;
		const controller = i % n;
		const sensorIndex = Math.floor(i / n) % this.sensors.length;
		const sensor = this.sensors[sensorIndex];
		const slot = controller * this.sensors.length + sensorIndex;
		const ts = Math.max(Date.now(), this.last[slot] + 1);
		this.last[slot] = ts;
		const values = simulatedValues(controller, ts, i)[sensor];
		return { controller, slot, payload: encodePayload(FACES2_LAYOUT[sensor], values, ts) };
	}
}
