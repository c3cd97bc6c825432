/**
 * Decoding a batch of raw MQTT messages (an iot.raw message, or dead letters being replayed)
 * into readings and dead letters. A plain module: the service hands it the controller lookup.
 */
import type { RawMqttMessage, Reading } from "../shared/contracts";
import type { DeadLetterInput } from "../shared/pipeline/storage";
import { decodeFrame, DecodeError, parsePayload, parseTopic, type ControllerSpec } from "./decode";
import { errorMessage } from "../shared/error-message";

export type UnknownController = { unknown: true; mac: string };
export type Lookup = ControllerSpec | UnknownController;

export interface DecodedBatch {
	readings: Reading[];
	dead: DeadLetterInput[];
	/** Messages whose topic and payload parsed (decoded or dead-lettered for their metadata). */
	parsed: number;
}

/** Looks up the metadata of these controllers (may wait out an outage, may throw while stopping). */
export type LookupControllers = (macs: string[]) => Promise<Map<string, Lookup>>;

function payloadText(b64: string): { text: string; data: Record<string, unknown> } {
	const buf = Buffer.from(b64, "base64");
	const text = buf.toString("utf8");
	// Binary payloads survive the round trip through the dead-letter table as base64.
	return Buffer.from(text, "utf8").equals(buf) ? { text, data: {} } : { text, data: { payloadBase64: b64 } };
}

export async function decodeBatch(
	messages: RawMqttMessage[],
	lookup: LookupControllers,
	now = Date.now()
): Promise<DecodedBatch> {
	const dead: DeadLetterInput[] = [];
	const parsed: {
		topic: ReturnType<typeof parseTopic>;
		frame: ReturnType<typeof parsePayload>;
		m: RawMqttMessage;
	}[] = [];
	const fail = (m: RawMqttMessage, err: unknown) => {
		const code = err instanceof DecodeError ? err.code : "DECODE_FAILED";
		const { text, data } = payloadText(typeof m?.payload === "string" ? m.payload : "");
		dead.push({
			source: "pipeline.decode",
			reason: `${code}: ${errorMessage(err)}`,
			topic: typeof m?.topic === "string" ? m.topic : null,
			payload: text,
			data: { ...data, code, receivedAt: m?.receivedAt ?? null }
		});
	};
	for (const m of messages) {
		try {
			if (typeof m?.topic !== "string" || typeof m?.payload !== "string")
				throw new DecodeError("BAD_PAYLOAD", "iot.raw entry needs topic and base64 payload strings");
			parsed.push({ topic: parseTopic(m.topic), frame: parsePayload(Buffer.from(m.payload, "base64"), now), m });
		} catch (err) {
			fail(m, err);
		}
	}
	const specs = parsed.length ? await lookup([...new Set(parsed.map(p => p.topic.mac))]) : new Map<string, Lookup>();
	const readings: Reading[] = [];
	for (const p of parsed) {
		const spec = specs.get(p.topic.mac);
		try {
			if (!spec || "unknown" in spec)
				throw new DecodeError("UNKNOWN_MAC", `no controller with MAC ${p.topic.mac} in the device registry`);
			for (const r of decodeFrame(spec, p.topic.sensor, p.frame)) readings.push(r);
		} catch (err) {
			fail(p.m, err);
		}
	}
	return { readings, dead, parsed: parsed.length };
}
