/**
 * pipeline-ingest: MQTT (MQTT_URL, or the embedded mTLS aedes broker) → iot.raw, batched.
 * See docs/pipeline.md.
 *
 * Nothing is acknowledged to the MQTT broker before it is on iot.raw: with MQTT_URL the
 * subscriber holds each PUBACK until the batch holding the message was accepted by the channel
 * (mqtt-subscriber.ts, persistent session, shared subscription); with the embedded broker the
 * controller's PUBLISH is acknowledged only then (mqtt-broker.ts). While iot.raw refuses batches
 * (NATS down) the unacknowledged messages wait in the broker's session; what is buffered here is
 * bounded by the brokers' in-flight windows, by the Receive Maximum this subscriber announces
 * and by `maxBuffered` (INGEST_MAX_BUFFERED).
 */
import os from "node:os";
import path from "node:path";
import type { Service } from "moleculer";
import { BatchPublisher } from "../../mixins/batch-publisher";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import { createKeyAndCsr } from "../shared/csr";
import { CHANNELS, packRawBatch, RAW_ENTRY_OVERHEAD, type RawEntry } from "../shared/contracts";
import { untilDone } from "../shared/pipeline/retry";
import { insertDeadLetters, type DeadLetterInput } from "../shared/pipeline/storage";
import { ingestClientId } from "./client-id";
import { EmbeddedBroker } from "./mqtt-broker";
import { receiveMaximumFor, startSubscriber, type Subscriber } from "./mqtt-subscriber";
import { acquireDatabase, releaseDatabase, type Database } from "../../mixins/db.mixin";
import { defineService } from "../shared/define-service";
import { errorMessage } from "../shared/error-message";

/**
 * An iot.raw channel message holds up to RAW_PER_MESSAGE MQTT messages or RAW_BYTES_PER_MESSAGE
 * of them (estimated size), whichever comes first: small frames share big channel messages
 * (each one costs a JetStream publish, a metadata check in the decoder, a sink hand-over), while
 * the largest payloads still keep a message well under NATS's default 1 MB limit
 * (2560 bytes → about 3,500 base64 characters; ~150 of them per message).
 */
const RAW_PER_MESSAGE = 4000;
const RAW_BYTES_PER_MESSAGE = 512 * 1024;
const MAX_PAYLOAD_BYTES = 2560;
/** Bytes of a packed entry besides its payload; a local copy (the compiled re-export is a getter, run per message). */
const ENTRY_OVERHEAD = RAW_ENTRY_OVERHEAD;
/** Packed size of one entry (base64 of payload and header) plus its topic, counted as if no other entry shared it. */
const rawSize = (m: RawEntry) => Math.ceil(((ENTRY_OVERHEAD + m.payload.length) * 4) / 3) + m.topic.length + 3;
const TOPICS = ["stat/+/+/+/+", "tele/+/+/+/+"];

interface IngestStats {
	received: number;
	tooLarge: number;
	lostAtStop: number;
}

type IngestThis = Service & {
	/** Opened on first use (the dead letter of an oversize payload): an ingest node needs no database otherwise. */
	db: Promise<Database> | null;
	database(): Promise<Database>;
	stats: IngestStats;
	publisher: BatchPublisher<RawEntry>;
	embedded: EmbeddedBroker | null;
	subscriber: Subscriber | null;
	stopping: boolean;
	onMqttMessage(topic: string, payload: Buffer): Promise<unknown>;
	tooLarge(topic: string, payload: Buffer): Promise<unknown>;
	startEmbeddedTls(): Promise<void>;
};

const PipelineIngestService = defineService<IngestThis>({
	name: "pipeline-ingest",
	settings: { rest: "/pipeline" },

	actions: {
		stats: {
			rest: "GET /ingest/stats",
			handler(this: IngestThis) {
				const e = this.embedded;
				return {
					...this.stats,
					ingest: this.publisher.stats,
					broker: e
						? {
								embedded: true,
								subscribed: true,
								plainPort: e.plainPort,
								plainAddress: e.plainAddress,
								tlsPort: e.tlsPort,
								...e.stats
							}
						: {
								embedded: false,
								connected: !!this.subscriber?.client.connected,
								subscribed: !!this.subscriber?.subscribed,
								...this.subscriber?.stats
							}
				};
			}
		}
	},

	methods: {
		/** Settles once the message is on iot.raw (or dead-lettered): only then is it acknowledged to the broker. */
		onMqttMessage(this: IngestThis, topic: string, payload: Buffer): Promise<unknown> {
			this.stats.received++;
			if (payload.length > MAX_PAYLOAD_BYTES || topic.length > 512) return this.tooLarge(topic, payload);
			if (this.stopping) {
				// Not acknowledged: the broker delivers it again to the next session.
				this.stats.lostAtStop++;
				return Promise.reject(new Error("ingest is stopping"));
			}
			return this.publisher.push({ topic, payload, receivedAt: Date.now() });
		},

		/** Too big for a frame (and for a channel batch): kept as a dead letter, not forwarded. */
		tooLarge(this: IngestThis, topic: string, payload: Buffer) {
			this.stats.tooLarge++;
			const letter: DeadLetterInput = {
				source: "pipeline.decode",
				reason:
					`TOO_LARGE: ${payload.length}-byte payload on a ${topic.length}-character topic (limits ` +
					`${MAX_PAYLOAD_BYTES} and 512)`,
				topic: topic.slice(0, 512),
				payload: payload.subarray(0, MAX_PAYLOAD_BYTES).toString("utf8"),
				data: { code: "TOO_LARGE", bytes: payload.length, receivedAt: new Date().toISOString() }
			};
			return untilDone({ logger: this.logger, isStopping: () => this.broker.stopping }, "dead letter", async () =>
				insertDeadLetters(await this.database(), [letter])
			);
		},

		database(this: IngestThis) {
			this.db ??= acquireDatabase(this.broker);
			// A failed open is retried by the next call.
			this.db.catch(() => (this.db = null));
			return this.db;
		},

		async startEmbeddedTls(this: IngestThis) {
			const env = fleetEnv(this.broker);
			try {
				// signing may start later or on another node; give up only when this node stops.
				while (
					!(await this.broker.waitForServices(["signing"], 10_000).then(
						() => true,
						() => false
					))
				) {
					if (this.broker.stopping || !this.embedded) return;
					this.logger.info("mqtt: waiting for the signing service (server certificate of the mTLS listener)");
				}
				// The listener's key is made here and never travels; signing signs the request.
				const { keyPem, csrPem } = await createKeyAndCsr("fleetmesh-mqtt");
				const issued = await this.broker.call<
					{ cert: string; ca: string },
					{ commonName: string; hosts: string[]; csr: string }
				>("signing.issueServerCert", {
					commonName: "fleetmesh-mqtt",
					hosts: [...new Set(["localhost", "127.0.0.1", os.hostname()])],
					csr: csrPem
				});
				const material = { cert: issued.cert, key: keyPem, ca: issued.ca };
				if (!this.embedded) return;
				this.embedded.setTlsMaterial(material);
			} catch (err) {
				if (this.embedded)
					this.logger.error(`mqtt: mTLS listener on ${env.mqttsPort} not started: ${errorMessage(err)}`);
			}
		}
	},

	created(this: IngestThis) {
		this.stats = { received: 0, tooLarge: 0, lostAtStop: 0 };
		this.embedded = null;
		this.subscriber = null;
		this.db = null;
		this.stopping = false;
		this.publisher = new BatchPublisher<RawEntry>(this.broker, CHANNELS.iotRaw, {
			field: "messages",
			encode: packRawBatch,
			maxItems: RAW_PER_MESSAGE,
			maxBytes: RAW_BYTES_PER_MESSAGE,
			sizeOf: rawSize,
			flushMs: 10,
			maxBuffered: fleetEnv(this.broker).ingestMaxBuffered,
			onDrop: (count, reason) =>
				this.logger.error(
					`pipeline ingest: dropped ${count} MQTT messages (${reason}); not acknowledged, the ` +
						`broker keeps them`
				)
		}).registerHealth();
	},

	async started(this: IngestThis) {
		const env = fleetEnv(this.broker);
		if (env.mqttUrl) {
			const subscriber = startSubscriber({
				url: env.mqttUrl,
				clientId: ingestClientId(env),
				group: env.namespace,
				filters: TOPICS,
				maxPacketBytes: env.mqttMaxPacketBytes,
				receiveMaximum: receiveMaximumFor(env.ingestMaxBuffered),
				onMessage: (topic, payload) => this.onMqttMessage(topic, payload),
				logger: this.logger
			});
			this.subscriber = subscriber;
			registerHealthCheck(this.broker, "mqtt", async () => {
				if (!subscriber.subscribed) throw new Error(`not subscribed on ${env.mqttUrl}`);
				return "external";
			});
			return;
		}
		this.embedded = await EmbeddedBroker.start({
			plainPort: env.mqttPort,
			plainPortOptional: !env.mqttPortExplicit,
			onMessage: (topic, payload) => this.onMqttMessage(topic, payload),
			persistenceDir: path.join(env.dataDir, "mqtt"),
			maxPacketBytes: env.mqttMaxPacketBytes,
			logger: this.logger
		});
		await this.embedded.reserveTls(env.mqttsPort);
		// 503 until every listener this node runs serves: the mTLS one needs its certificate first.
		registerHealthCheck(this.broker, "mqtt", async () => {
			const e = this.embedded;
			if (!e) throw new Error("embedded broker stopped");
			if (e.tlsPort == null)
				throw new Error(
					`mTLS listener on ${e.tlsAddress} has no server certificate yet (waiting for the signing service)`
				);
			return { embedded: true, tls: e.tlsPort, plain: e.plainPort };
		});
		// The mTLS listener needs a server certificate from signing, which may start later.
		void this.startEmbeddedTls();
	},

	async stopped(this: IngestThis) {
		// Take nothing new (unacknowledged, it is delivered again), flush what is buffered so it is
		// acknowledged, then leave the broker.
		this.stopping = true;
		await this.publisher.close(3000);
		await this.subscriber?.close();
		this.subscriber = null;
		if (this.embedded) {
			const e = this.embedded;
			this.embedded = null;
			await e.close();
		}
		if (this.db) {
			this.db = null;
			await releaseDatabase(this.broker);
		}
	}
});

export default PipelineIngestService;
