/**
 * Decoding a batch of raw MQTT messages (an iot.raw message, or dead letters being replayed)
 * into readings and dead letters. A plain module: the service hands it the controller lookup.
 */
import {
	unpackRawBatch,
	type PackedIotRawBatch,
	type RawEntry,
	type RawMqttMessage,
	type Reading
} from "../shared/contracts";
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

function payloadText(buf: Buffer): { text: string; data: Record<string, unknown> } {
	const text = buf.toString("utf8");
	// Binary payloads survive the round trip through the dead-letter table as base64.
	return Buffer.from(text, "utf8").equals(buf)
		? { text, data: {} }
		: { text, data: { payloadBase64: buf.toString("base64") } };
}

/** The messages of an iot.raw message: the packed shape the ingest sends, or the first `{ messages }` one. */
export function rawMessagesOf(payload: { messages?: unknown; packed?: unknown }): (RawEntry | RawMqttMessage)[] {
	if (payload && typeof payload.packed === "string") return unpackRawBatch(payload as PackedIotRawBatch);
	if (Array.isArray(payload?.messages)) return payload.messages as RawMqttMessage[];
	throw new Error("iot.raw message has neither packed entries nor a messages array");
}

type AnyRaw = RawEntry | RawMqttMessage;

/** The bytes of a message: packed entries carry them, the first shape (and replays) as base64. */
function bytesOf(m: AnyRaw): Buffer | null {
	if (Buffer.isBuffer(m?.payload)) return m.payload;
	return typeof m?.payload === "string" ? Buffer.from(m.payload, "base64") : null;
}

export async function decodeBatch(
	messages: AnyRaw[],
	lookup: LookupControllers,
	now = Date.now()
): Promise<DecodedBatch> {
	const dead: DeadLetterInput[] = [];
	const parsed: {
		topic: ReturnType<typeof parseTopic>;
		frame: ReturnType<typeof parsePayload>;
		m: AnyRaw;
	}[] = [];
	const fail = (m: AnyRaw, err: unknown) => {
		const code = err instanceof DecodeError ? err.code : "DECODE_FAILED";
		const { text, data } = payloadText(bytesOf(m) ?? Buffer.alloc(0));
		const at = m?.receivedAt;
		dead.push({
			source: "pipeline.decode",
			reason: `${code}: ${errorMessage(err)}`,
			topic: typeof m?.topic === "string" ? m.topic : null,
			payload: text,
			data: { ...data, code, receivedAt: typeof at === "number" ? new Date(at).toISOString() : (at ?? null) }
		});
	};
	for (const m of messages) {
		try {
			const bytes = bytesOf(m);
			if (typeof m?.topic !== "string" || !bytes)
				throw new DecodeError("BAD_PAYLOAD", "iot.raw entry needs a topic string and a (base64) payload");
			parsed.push({ topic: parseTopic(m.topic), frame: parsePayload(bytes, now), m });
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
