/**
 * A lean MQTT 3.1.1 / 5 QoS 1 publisher connection for the benchmarks' load generator. The
 * load generator shares the 2 cores with the system it measures, so it has to cost little:
 * mqtt.js builds a packet object, a callback and a store entry per PUBLISH and writes each on
 * its own. This client does the same protocol work with less:
 *   - CONNECT (clean session, keepalive with PINGREQ), CONNACK and DISCONNECT through
 *     mqtt-packet (once per connection);
 *   - each PUBLISH written by hand into a shared output chunk: a precomputed topic header per
 *     topic, then the packet id and the payload; many packets per socket write (flush());
 *   - PUBACKs (4 bytes in 3.1.1, 4+ in 5) parsed in a plain loop, each checked against the
 *     packet ids in flight (an unknown or repeated id is an error, as is a v5 failure reason);
 *   - the server's Receive Maximum (MQTT 5) bounds the packets in flight on the connection.
 * Real protocol, real broker: nothing here is a mock.
 */
import net from "node:net";
import tls from "node:tls";
import mqttPacket from "mqtt-packet";

export interface LeanConnectOptions {
	/** mqtt://host:port or mqtts://host:port */
	url: string;
	clientId: string;
	protocolVersion: 4 | 5;
	tls?: { cert: string; key: string; ca: string; servername?: string };
	keepaliveSeconds?: number;
	/** Called once per PUBACK batch (one socket read), after the counters moved. */
	onAcks: (n: number) => void;
	onError: (err: Error) => void;
}

const CHUNK = 64 * 1024;

export class LeanMqttConnection {
	/** PUBLISH packets sent and not yet acknowledged on this connection. */
	inflight = 0;
	acked = 0;
	/** The server's Receive Maximum (MQTT 5), else 65,535. */
	receiveMaximum = 65535;
	private readonly pending = new Uint8Array(65536);
	private nextId = 1;
	private out = Buffer.allocUnsafeSlow(CHUNK);
	private start = 0;
	private end = 0;
	private rest: Buffer | null = null;
	private readonly topicHeaders: Buffer[] = [];
	private pinger: NodeJS.Timeout | null = null;
	private closing = false;

	private constructor(
		private readonly socket: net.Socket,
		private readonly opts: LeanConnectOptions
	) {}

	/** Connects and resolves once the CONNACK accepted the session. */
	static connect(opts: LeanConnectOptions): Promise<LeanMqttConnection> {
		const u = new URL(opts.url);
		const secure = u.protocol === "mqtts:";
		const port = Number(u.port || (secure ? 8883 : 1883));
		const socket = secure
			? tls.connect({ host: u.hostname, port, ...opts.tls, servername: opts.tls?.servername ?? u.hostname })
			: net.connect({ host: u.hostname, port });
		socket.setNoDelay(true);
		const conn = new LeanMqttConnection(socket, opts);
		return conn.handshake(secure);
	}

	private handshake(secure: boolean): Promise<LeanMqttConnection> {
		const keepalive = this.opts.keepaliveSeconds ?? 60;
		const v = this.opts.protocolVersion;
		return new Promise((resolve, reject) => {
			const parser = mqttPacket.parser({ protocolVersion: v });
			const fail = (err: Error) => {
				this.socket.destroy();
				reject(err);
			};
			parser.on("error", fail);
			parser.on("packet", (p: mqttPacket.Packet) => {
				if (p.cmd !== "connack") return fail(new Error(`expected CONNACK, got ${p.cmd}`));
				const code = v === 5 ? p.reasonCode : p.returnCode;
				if (code) return fail(new Error(`CONNACK refused the connection: code ${code}`));
				if (p.properties?.receiveMaximum) this.receiveMaximum = p.properties.receiveMaximum;
				this.socket.off("data", onHandshakeData);
				this.socket.off("error", fail);
				this.socket.on("data", d => this.onData(d));
				this.socket.on("error", err => this.opts.onError(err));
				this.socket.on("close", () => {
					if (!this.closing) this.opts.onError(new Error(`${this.opts.clientId}: connection closed`));
				});
				if (keepalive > 0)
					this.pinger = setInterval(() => this.socket.write(PINGREQ), (keepalive * 1000) / 2).unref();
				resolve(this);
			});
			const onHandshakeData = (d: Buffer) => parser.parse(d);
			this.socket.on("data", onHandshakeData);
			this.socket.once("error", fail);
			this.socket.once(secure ? "secureConnect" : "connect", () => {
				this.socket.write(
					mqttPacket.generate(
						{ cmd: "connect", protocolVersion: v, clientId: this.opts.clientId, clean: true, keepalive },
						{ protocolVersion: v }
					)
				);
			});
		});
	}

	/** Topic index → the bytes before the packet id that do not depend on the payload: its length prefix and name. */
	setTopics(topics: string[]): void {
		for (const t of topics) {
			const name = Buffer.from(t, "utf8");
			const h = Buffer.allocUnsafe(2 + name.length);
			h.writeUInt16BE(name.length, 0);
			name.copy(h, 2);
			this.topicHeaders.push(h);
		}
	}

	/** Appends a QoS 1 PUBLISH to the output chunk; flush() sends it. */
	publish(topic: number, payload: string): void {
		const header = this.topicHeaders[topic];
		const payloadLength = Buffer.byteLength(payload, "utf8");
		const props = this.opts.protocolVersion === 5 ? 1 : 0;
		const remaining = header.length + 2 + props + payloadLength;
		const size = 1 + varintSize(remaining) + remaining;
		if (this.end + size > this.out.length) {
			this.flush();
			this.out = Buffer.allocUnsafeSlow(Math.max(CHUNK, size));
			this.start = this.end = 0;
		}
		const id = this.nextId;
		this.nextId = id === 65535 ? 1 : id + 1;
		if (this.pending[id]) throw new Error(`${this.opts.clientId}: packet id ${id} still in flight`);
		this.pending[id] = 1;
		this.inflight++;
		const b = this.out;
		let o = this.end;
		b[o++] = 0x32; // PUBLISH, QoS 1, no DUP, no RETAIN
		for (let r = remaining; ;) {
			const digit = r & 0x7f;
			r >>>= 7;
			b[o++] = r > 0 ? digit | 0x80 : digit;
			if (r === 0) break;
		}
		o += header.copy(b, o);
		b[o++] = id >> 8;
		b[o++] = id & 0xff;
		if (props) b[o++] = 0; // MQTT 5: no properties
		o += b.write(payload, o, "utf8");
		this.end = o;
	}

	/** Writes what publish() appended since the last flush, in one socket write. */
	flush(): void {
		if (this.end === this.start) return;
		this.socket.write(this.out.subarray(this.start, this.end));
		this.start = this.end;
	}

	/** DISCONNECT, then the socket's end; resolves when it is closed. */
	close(): Promise<void> {
		this.closing = true;
		if (this.pinger) clearInterval(this.pinger);
		this.flush();
		return new Promise(resolve => {
			this.socket.once("close", () => resolve());
			this.socket.end(DISCONNECT);
		});
	}

	private onData(d: Buffer): void {
		let buf = d;
		if (this.rest) {
			buf = Buffer.concat([this.rest, d]);
			this.rest = null;
		}
		let o = 0;
		let acks = 0;
		while (o + 2 <= buf.length) {
			const type = buf[o] >> 4;
			// Remaining length: PUBACKs have 2 (3.1.1, or 5 with success), 3+ (5 with a reason code).
			let remaining = 0;
			let mul = 1;
			let p = o + 1;
			let complete = false;
			while (p < buf.length && p < o + 5) {
				const byte = buf[p++];
				remaining += (byte & 0x7f) * mul;
				mul *= 128;
				if (!(byte & 0x80)) {
					complete = true;
					break;
				}
			}
			if (!complete || p + remaining > buf.length) break;
			if (type === 4) {
				const id = buf.readUInt16BE(p);
				if (remaining >= 3 && buf[p + 2] >= 0x80)
					return this.fail(`PUBACK of packet ${id} with failure reason 0x${buf[p + 2].toString(16)}`);
				if (!this.pending[id]) return this.fail(`PUBACK for packet id ${id}, which is not in flight`);
				this.pending[id] = 0;
				this.inflight--;
				this.acked++;
				acks++;
			} else if (type === 14) {
				return this.fail(`the server sent DISCONNECT (reason ${remaining ? buf[p] : 0})`);
			} else if (type !== 13) {
				// 13 = PINGRESP; nothing else is expected by a publisher that subscribes to nothing.
				return this.fail(`unexpected MQTT packet type ${type}`);
			}
			o = p + remaining;
		}
		if (o < buf.length) this.rest = buf.subarray(o);
		if (acks) this.opts.onAcks(acks);
	}

	private fail(message: string): void {
		this.closing = true;
		this.socket.destroy();
		this.opts.onError(new Error(`${this.opts.clientId}: ${message}`));
	}
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

function varintSize(n: number): number {
	return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}
