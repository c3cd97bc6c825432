/**
 * The embedded MQTT broker (aedes) used when MQTT_URL is not set.
 *
 *   - TLS listener on MQTTS_PORT (all interfaces): a client must present a certificate signed
 *     by the signing CA (requestCert + rejectUnauthorized); its CN (f2-<mac>) is its identity.
 *   - plain listener on MQTT_PORT bound to 127.0.0.1 only: local tools, trusted.
 *   - ACL, the same as docker/mosquitto/acl: a certificate client may publish only under
 *     stat/<CN>/… and tele/<CN>/…, and subscribe only to cmnd/<CN>/….
 *
 * The ingest takes controller messages in-process (no socket), so it does not depend on the
 * listeners. aedes writes the PUBACK of a QoS 1 PUBLISH *before* it hands the message to
 * subscribers, so the ingest takes stat/… and tele/… messages in `authorizePublish`, which aedes
 * runs first: it completes only once `onMessage`'s promise settled, i.e. once the message is on
 * iot.raw, and only then does aedes acknowledge. A crash before that leaves the message with
 * the controller, which sends it again on reconnect. (The packets of one socket read are
 * authorized concurrently, so this still batches.)
 *
 * Sessions, subscriptions, retained and queued messages (e.g. cmnd/… for an offline
 * controller) live in a LevelDB store under DATA_DIR (aedes-persistence-level), so a restart
 * keeps them. Packets over `maxPacketBytes` are refused before they are buffered (the
 * connection is closed) and counted.
 */
import net from "node:net";
import tls from "node:tls";
import { Aedes, type Client } from "aedes";
import { listenError } from "../shared/listen-errors";

/** Topics the ingest takes: stat/+/+/+/+ and tele/+/+/+/+ (the FACES2 topic shape). */
export function isIngestTopic(topic: string): boolean {
	const parts = topic.split("/");
	return parts.length === 5 && (parts[0] === "stat" || parts[0] === "tele");
}

/** Topics the holder of certificate CN `cn` may publish to. */
export function mayPublish(cn: string, topic: string): boolean {
	const parts = topic.split("/");
	return (
		parts.length >= 3 &&
		(parts[0] === "stat" || parts[0] === "tele") &&
		parts[1] === cn &&
		!topic.includes("#") &&
		!topic.includes("+")
	);
}

/** Topic filters the holder of certificate CN `cn` may subscribe to: its own commands only. */
export function maySubscribe(cn: string, filter: string): boolean {
	const parts = filter.split("/");
	return parts[0] === "cmnd" && parts[1] === cn;
}

export interface TlsMaterial {
	key: string;
	cert: string;
	ca: string;
}

export interface EmbeddedBrokerOptions {
	plainPort: number | null;
	plainHost?: string;
	/** A taken plain port skips the plain listener with a warning instead of stopping the node. */
	plainPortOptional?: boolean;
	/** Settles once the message is durably handed on; only then is the PUBLISH acknowledged. */
	onMessage: (topic: string, payload: Buffer) => Promise<unknown>;
	/** Directory of the broker's persistent store; in memory when null. */
	persistenceDir: string | null;
	/** Largest MQTT packet accepted (MQTT_MAX_PACKET_BYTES). */
	maxPacketBytes: number;
	logger: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
}

type ClientWithIdentity = Client & { fleetCN?: string };

function certificateCN(client: Client): string | null | undefined {
	const conn = client.conn as tls.TLSSocket;
	if (!conn || !(conn as { encrypted?: boolean }).encrypted) return undefined; // plain, loopback
	const cert = conn.getPeerCertificate();
	const cn = cert?.subject?.CN;
	return typeof cn === "string" ? cn : Array.isArray(cn) ? cn[0] : null;
}

export class EmbeddedBroker {
	readonly aedes: Aedes;
	private plain: net.Server | null = null;
	private secure: tls.Server | null = null;
	plainPort: number | null = null;
	plainAddress: string | null = null;
	tlsPort: number | null = null;
	/** Where the mTLS listener is bound (it serves once it has its certificate). */
	tlsAddress: string | null = null;
	readonly stats = { refusedPublish: 0, refusedSubscribe: 0, refusedConnect: 0, refusedOversize: 0 };
	private persistence: { destroy(): Promise<void> } | null = null;

	private constructor(
		aedes: Aedes,
		private readonly opts: EmbeddedBrokerOptions
	) {
		this.aedes = aedes;
	}

	static async start(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
		let self: EmbeddedBroker | null = null;
		const persistence = opts.persistenceDir ? await openPersistence(opts.persistenceDir) : null;
		const aedes = await Aedes.createBroker({
			...(persistence ? { persistence: persistence as never } : {}),
			concurrency: 1000,
			preConnect: (client, _packet, done) => {
				limitPacketSize(client, opts.maxPacketBytes, bytes => {
					if (self) self.stats.refusedOversize++;
					opts.logger.warn(
						`mqtt: ${client.id ?? "a client"} sent a ${bytes}-byte packet, over ` +
							`MQTT_MAX_PACKET_BYTES (${opts.maxPacketBytes}): refused, connection closed`
					);
				});
				done(null, true);
			},
			authenticate: (client, _user, _pass, done) => {
				const cn = certificateCN(client);
				if (cn === null) {
					if (self) self.stats.refusedConnect++;
					const err = Object.assign(new Error("client certificate has no CN"), { returnCode: 5 as const });
					return done(err, false);
				}
				(client as ClientWithIdentity).fleetCN = cn;
				done(null, true);
			},
			authorizePublish: (client, packet, done) => {
				const cn = client ? (client as ClientWithIdentity).fleetCN : undefined;
				if (cn !== undefined && !mayPublish(cn, packet.topic)) {
					if (self) self.stats.refusedPublish++;
					opts.logger.warn(`mqtt: ${cn} may not publish to '${packet.topic}' (refused)`);
					return done(new Error(`${cn} may not publish to ${packet.topic}`));
				}
				if (!client || !isIngestTopic(packet.topic)) return done(null);
				const payload = Buffer.isBuffer(packet.payload)
					? packet.payload
					: Buffer.from(packet.payload as string);
				let handed: Promise<unknown>;
				try {
					handed = opts.onMessage(packet.topic, payload);
				} catch (err) {
					handed = Promise.reject(err);
				}
				handed.then(
					() => done(null),
					// Not handed on (the node is stopping): no PUBACK; the connection closes and the
					// controller sends the message again after reconnecting.
					(err: Error) => done(new Error(`not taken (${err?.message}); send it again`))
				);
			},
			authorizeSubscribe: (client, sub, done) => {
				const cn = (client as ClientWithIdentity).fleetCN;
				if (cn !== undefined && !maySubscribe(cn, sub.topic)) {
					if (self) self.stats.refusedSubscribe++;
					return done(new Error(`${cn} may not subscribe to ${sub.topic}`), null);
				}
				done(null, sub);
			}
		});
		self = new EmbeddedBroker(aedes, opts);
		self.persistence = persistence;
		if (opts.plainPort != null) await self.listenPlain(opts.plainPort, opts.plainHost ?? "127.0.0.1");
		return self;
	}

	private async listenPlain(port: number, host: string): Promise<void> {
		const server = net.createServer(socket => this.aedes.handle(socket));
		try {
			await listen(server, port, host);
		} catch (err) {
			// Another broker (a system Mosquitto) holds the port. Asked for on purpose (MQTT_PORT
			// set): say so and stop, rather than run without the listener local tools expect. At
			// its default: run without it, since controllers come in over mTLS anyway.
			if (this.opts.plainPortOptional && (err as NodeJS.ErrnoException)?.code === "EADDRINUSE") {
				this.opts.logger.warn(
					`mqtt: plain listener not started: ${host}:${port} is taken (another MQTT broker?); ` +
						("controllers use the mTLS listener; set MQTT_PORT for a local plain listener, or " +
							"MQTT_URL to use that broker")
				);
				return;
			}
			throw listenError(err, "MQTT_PORT", port, host);
		}
		this.plain = server;
		this.plainPort = (server.address() as net.AddressInfo).port;
		this.plainAddress = (server.address() as net.AddressInfo).address;
		this.opts.logger.info(`mqtt: embedded broker, plain listener on ${host}:${this.plainPort} (loopback only)`);
	}

	/**
	 * Binds the mTLS listener now, so a taken MQTTS_PORT stops the start; it accepts controllers
	 * once `setTlsMaterial` gave it the server certificate (signing may start later). Until then
	 * every handshake is refused and `tlsPort` is null (`/ready` says so).
	 */
	async reserveTls(port: number, host = "0.0.0.0"): Promise<void> {
		const server = tls.createServer(
			{ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
			socket => this.aedes.handle(socket)
		);
		// Until it has its certificate, a connection is closed at once (the client retries); not a refusal.
		server.on("connection", socket => {
			if (this.tlsPort == null) socket.destroy();
		});
		// A refused handshake (no or foreign certificate) is normal traffic, not a crash.
		server.on("tlsClientError", err => {
			if (this.tlsPort == null) return;
			this.stats.refusedConnect++;
			this.opts.logger.warn(`mqtt: TLS client refused (${err.message})`);
		});
		try {
			await listen(server, port, host);
		} catch (err) {
			throw listenError(err, "MQTTS_PORT", port, host);
		}
		this.secure = server;
		this.tlsAddress = `${host}:${(server.address() as net.AddressInfo).port}`;
	}

	/** Gives the mTLS listener its certificates (again, when they are renewed). */
	setTlsMaterial(material: TlsMaterial): number {
		if (!this.secure) throw new Error("the mTLS listener is not bound");
		this.secure.setSecureContext({
			key: material.key,
			cert: material.cert,
			ca: material.ca,
			minVersion: "TLSv1.2"
		});
		this.tlsPort = (this.secure.address() as net.AddressInfo).port;
		this.opts.logger.info(`mqtt: embedded broker, mTLS listener on ${this.tlsAddress}`);
		return this.tlsPort;
	}

	async close(): Promise<void> {
		await Promise.all([this.plain && closeServer(this.plain), this.secure && closeServer(this.secure)]);
		await new Promise<void>(r => this.aedes.close(() => r()));
		await this.persistence?.destroy().catch(() => undefined);
	}
}

/** aedes' store in LevelDB (its async persistence class, the API aedes 1.x calls). */
async function openPersistence(dir: string): Promise<{ destroy(): Promise<void> }> {
	const { ClassicLevel } = await import("classic-level");
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS file of the package
	const AsyncPersistence = require("aedes-persistence-level/asyncPersistence.js") as new (db: unknown) => {
		destroy(): Promise<void>;
	};
	const db = new ClassicLevel(dir);
	await db.open();
	return new AsyncPersistence(db);
}

/**
 * aedes has no packet size limit (a 200 MB PUBLISH is buffered whole): refuse a packet as soon
 * as its length header says it is too big, before its body is read. mqtt-packet's parser reads
 * the remaining length in `_parseLength`; an error there makes aedes close the connection.
 */
function limitPacketSize(client: Client, maxBytes: number, onRefused: (bytes: number) => void): void {
	const parser = (client as unknown as { _parser?: PacketParser })._parser;
	if (!parser || parser.fleetLimit) return;
	parser.fleetLimit = true;
	const parseLength = parser._parseLength;
	parser._parseLength = function (this: PacketParser) {
		const ok = parseLength.call(this);
		if (ok && this.packet.length > maxBytes) {
			onRefused(this.packet.length);
			this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds the limit of ${maxBytes}`));
			return false;
		}
		return ok;
	};
}

/** The part of mqtt-packet's parser the limit hooks into. */
interface PacketParser {
	packet: { length: number };
	fleetLimit?: boolean;
	_parseLength(this: PacketParser): boolean;
	_emitError(err: Error): void;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => {
			server.off("error", reject);
			resolve();
		});
	});
}

function closeServer(server: net.Server): Promise<void> {
	return new Promise(r => {
		server.close(() => r());
		// Open client connections would keep close() waiting.
		(server as { closeAllConnections?: () => void }).closeAllConnections?.();
		setTimeout(r, 500).unref();
	});
}
