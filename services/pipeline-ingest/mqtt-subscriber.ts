/**
 * The ingest's MQTT client on an external broker (MQTT_URL, Mosquitto in production).
 *
 *   - Persistent session: `clean: false` (MQTT 5 clean start off, a session expiry of a week)
 *     under a client id that stays the same across restarts of this ingest instance, so the
 *     broker queues what is published while the ingest is down and delivers it when it returns.
 *     (A clean session lost every message published during an outage.)
 *   - Shared subscription `$share/<group>/…` at QoS 1: several ingest instances split the
 *     stream, each message goes to one of them; a dead instance's queue waits for it.
 *   - PUBACK only after the message is on iot.raw: `onMessage` returns a promise that settles
 *     when the batch holding it was accepted by the channel. mqtt.js acknowledges a QoS 1
 *     message as soon as its handler returns and processes packets strictly one after the
 *     other (its `handleMessage`/`customHandleAcks` hooks block the next packet until they
 *     call back, which would allow one batch per message); so the PUBACK packet itself is held
 *     back (mqtt.js' `_sendPacket`) while the next packets are read. PUBACKs still leave in
 *     the order the messages arrived (batches are sent in order). A crash before the PUBACK
 *     leaves the message in the broker's session: it is delivered again (at least once; the
 *     sink's primary key removes the duplicate rows).
 */
import mqtt from "mqtt";

export interface SubscriberOptions {
	url: string;
	clientId: string;
	/** Shared subscription group: `$share/<group>/<filter>`. */
	group: string;
	filters: string[];
	maxPacketBytes: number;
	/**
	 * MQTT 5 Receive Maximum: the most QoS 1 messages the broker may have sent us unacknowledged.
	 * The ingest holds each message until its batch is on iot.raw, so this bounds what one
	 * connection can put in its buffer; without it the broker's own window decides (Mosquitto's
	 * max_inflight_messages, or unlimited), and a buffer smaller than that window drops messages
	 * unacknowledged that the broker resends only on a new connection. Null: not announced.
	 */
	receiveMaximum: number | null;
	onMessage: (topic: string, payload: Buffer) => Promise<unknown>;
	logger: { info(...a: unknown[]): void; warn(...a: unknown[]): void; error(...a: unknown[]): void };
}

export interface Subscriber {
	client: mqtt.MqttClient;
	readonly subscribed: boolean;
	readonly stats: { heldAcks: number; acked: number };
	close(): Promise<void>;
}

const SESSION_EXPIRY_S = 7 * 24 * 3600;

/**
 * Half the buffer, so what one connection can have unacknowledged always fits, with room for
 * what a previous connection left in it (sent again by the broker, stored once). Announced only
 * when that is below MQTT's own default (65,535): announcing 65,535 made Mosquitto use it instead
 * of its max_inflight_messages (8000), and its 2.0.11 sends more than the window once acks come,
 * so a drained backlog of 270,000 messages overran the 200,000 buffer (dropped, never resent).
 */
export function receiveMaximumFor(maxBuffered: number): number | null {
	const half = Math.max(1, Math.floor(maxBuffered / 2));
	return half < 65_535 ? half : null;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/**
 * A batch's PUBACKs as one socket write. mqtt.js writes each packet with three stream writes
 * (header, length, id) and a debug call for each: for thousands of acks a second that was the
 * largest part of the ingest's MQTT cost. A PUBACK for success without properties is four bytes
 * in MQTT 3.1.1 and 5 alike (MQTT 5 §3.4.2.1: reason code and properties may be omitted).
 */
function writePubacks(stream: { write(b: Buffer): unknown }, packets: { messageId?: number }[]): void {
	const buf = Buffer.allocUnsafe(4 * packets.length);
	let o = 0;
	for (const p of packets) {
		buf[o] = 0x40;
		buf[o + 1] = 2;
		buf.writeUInt16BE(p.messageId!, o + 2);
		o += 4;
	}
	stream.write(buf);
}

export function startSubscriber(opts: SubscriberOptions): Subscriber {
	const client = mqtt.connect(opts.url, {
		clientId: opts.clientId,
		clean: false,
		protocolVersion: 5,
		properties: {
			sessionExpiryInterval: SESSION_EXPIRY_S,
			maximumPacketSize: opts.maxPacketBytes,
			...(opts.receiveMaximum != null ? { receiveMaximum: opts.receiveMaximum } : {})
		},
		reconnectPeriod: 1000,
		connectTimeout: 10_000,
		// mqtt.js logs through `debug` several times per packet; unless DEBUG asks for it, skip the calls.
		...(process.env.DEBUG ? {} : { log: () => undefined })
	});
	let subscribed = false;
	const stats = { heldAcks: 0, acked: 0 };
	/**
	 * The promise of the message whose PUBACK mqtt.js is about to send. It emits `message` and
	 * then sends that PUBACK before it reads the next packet, so one slot holds it; a message
	 * whose PUBACK has not come when the next one arrives moves to `pending` (never expected;
	 * a Map set and delete per message was garbage of its own at 30,000 messages a second).
	 */
	let nextId = -1;
	let nextHanded: Promise<unknown> | undefined;
	const pending = new Map<number, Promise<unknown>>();
	const handedFor = (messageId: number): Promise<unknown> | undefined => {
		if (messageId === nextId) {
			const handed = nextHanded;
			nextId = -1;
			nextHanded = undefined;
			return handed;
		}
		const handed = pending.get(messageId);
		if (handed) pending.delete(messageId);
		return handed;
	};

	client.on("message", (topic, payload, packet) => {
		let handed: Promise<unknown>;
		try {
			handed = opts.onMessage(topic, payload);
		} catch (err) {
			handed = Promise.reject(err);
		}
		if (packet.qos > 0 && packet.messageId != null) {
			if (nextHanded) pending.set(nextId, nextHanded);
			nextId = packet.messageId;
			nextHanded = handed;
		} else handed.catch(() => undefined);
	});

	const send = (client as unknown as { _sendPacket: SendPacket })._sendPacket.bind(client);
	/**
	 * Held PUBACKs by the promise they wait for. Messages of one ingest batch share a promise
	 * (BatchPublisher groups them), so one `then` per batch releases all of its PUBACKs, in
	 * arrival order, instead of two closures per message.
	 */
	const held = new Map<Promise<unknown>, { stream: unknown; packets: { cmd: string; messageId?: number }[] }>();
	(client as unknown as { _sendPacket: SendPacket })._sendPacket = (packet, cb, ...rest) => {
		const handed = packet.cmd === "puback" && packet.messageId != null ? handedFor(packet.messageId) : undefined;
		if (!handed) return send(packet, cb, ...rest);
		stats.heldAcks++;
		// Let mqtt.js read the next packet now; the PUBACK goes when the message is on iot.raw.
		cb?.();
		const waiting = held.get(handed);
		if (waiting && waiting.stream === client.stream) {
			waiting.packets.push(packet);
			return;
		}
		const entry = { stream: client.stream as unknown, packets: [packet] };
		held.set(handed, entry);
		const release = (ok: unknown) => {
			if (held.get(handed) === entry) held.delete(handed);
			stats.heldAcks -= entry.packets.length;
			// Not acknowledged: dropped at a bound, or the connection it came on is gone (the
			// broker delivers it again on the next connection).
			if (ok === false || client.stream !== entry.stream || !client.connected) return;
			stats.acked += entry.packets.length;
			writePubacks(client.stream, entry.packets);
		};
		handed.then(release, () => release(false));
	};

	client.on("connect", connack => {
		client.subscribe(
			opts.filters.map(f => `$share/${opts.group}/${f}`),
			{ qos: 1 },
			err => {
				if (err) return opts.logger.error(`mqtt: subscribe failed: ${err.message}`);
				subscribed = true;
				opts.logger.info(
					`mqtt: subscribed to ${opts.filters.join(" and ")} on ${opts.url} as ${opts.clientId} ` +
						`(shared group ${opts.group}, session ${connack.sessionPresent ? "resumed" : "new"})`
				);
			}
		);
	});
	client.on("close", () => {
		subscribed = false;
		// Messages of the lost connection are redelivered on the next one: forget their acks.
		pending.clear();
		nextId = -1;
		nextHanded = undefined;
		held.clear();
	});
	client.on("error", err => opts.logger.warn(`mqtt: ${err.message}`));

	return {
		client,
		get subscribed() {
			return subscribed && client.connected;
		},
		stats,
		async close() {
			// A normal DISCONNECT keeps the session (clean: false): the broker queues for us meanwhile.
			await client.endAsync().catch(() => undefined);
		}
	};
}
