/** The Receive Maximum the ingest announces to an external MQTT broker, from its buffer's bound. */
import { describe, expect, it } from "vitest";
import { receiveMaximumFor } from "../../services/pipeline-ingest/mqtt-subscriber";

describe("ingest Receive Maximum", () => {
	it("is half the buffer when that narrows MQTT's default window, else not announced", () => {
		expect(receiveMaximumFor(40)).toBe(20);
		expect(receiveMaximumFor(3)).toBe(1);
		expect(receiveMaximumFor(131_068)).toBe(65_534);
		// The default buffer (200,000): the broker keeps its own window (Mosquitto's max_inflight_messages).
		expect(receiveMaximumFor(131_070)).toBeNull();
		expect(receiveMaximumFor(200_000)).toBeNull();
	});
});
