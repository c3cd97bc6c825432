/**
 * pipeline: MQTT field controllers → decoded_data (DESIGN.md "The MQTT pipeline").
 *
 *   ingest   MQTT (MQTT_URL, or the embedded mTLS aedes broker) → iot.raw, batched
 *   decode   iot.raw (group pipeline-decode) → metadata-driven frames → telemetry.readings;
 *            anything undecodable → dead_letters with the reason
 *   sink     telemetry.readings (group pipeline-sink, whoever published) → COPY into
 *            decoded_data, acknowledged only after commit; retried while PostgreSQL is down
 *
 * The three stages are independent: a node may run the service for any of them, and the
 * durable channels between them keep what a stopped stage has not taken yet.
 */
import os from "node:os";
import type { Context, Service, ServiceSchema } from "moleculer";
import mqtt from "mqtt";
import { BatchPublisher } from "../../mixins/batch-publisher";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import { CHANNELS, type RawMqttMessage, type Reading } from "../shared/contracts";
import { decodeFrame, DecodeError, parsePayload, parseTopic, type ControllerSpec } from "./decode";
import { EmbeddedBroker } from "./mqtt-broker";
import { BatchSink } from "./sink";
import {
	applyRetention,
	insertDeadLetters,
	insertReadings,
	isDataError,
	loadControllerSpec,
	metadataVersion,
	readingProblem,
	toRow,
	type DeadLetterInput,
	type DeadLetterRow,
	type Row
} from "./storage";

/** Largest telemetry.readings message the decoder sends (readings). */
const READINGS_PER_MESSAGE = 5000;
/**
 * MQTT messages per iot.raw channel message, and the largest payload accepted. Together they
 * keep a channel message under NATS's default 1 MB limit (250 × (2560 × 4/3 base64 + ~120)
 * ≈ 0.9 MB); a frame is at most 1024 bytes (2048 hex digits), so 2560 bytes of JSON is ample.
 */
const RAW_PER_MESSAGE = 250;
const MAX_PAYLOAD_BYTES = 2560;

type UnknownController = { unknown: true; mac: string };
type Lookup = ControllerSpec | UnknownController;

interface PipelineStats {
	received: number;
	decodedMessages: number;
	readings: number;
	deadLetters: number;
	replayed: number;
}

type PipelineThis = Service & {
	db: Database;
	stats: PipelineStats;
	rawPublisher: BatchPublisher<RawMqttMessage> | null;
	sink: BatchSink;
	embedded: EmbeddedBroker | null;
	mqttClient: mqtt.MqttClient | null;
	mqttSubscribed: boolean;
	metadataVersion: string | null;
	onMqttMessage(topic: string, payload: Buffer): void;
	decodeMessages(messages: RawMqttMessage[], keepAlive?: () => void): Promise<{ readings: Reading[]; dead: DeadLetterInput[] }>;
	lookupControllers(macs: string[]): Promise<Map<string, Lookup>>;
	untilDone<T>(what: string, fn: () => Promise<T>, keepAlive?: () => void): Promise<T>;
	startEmbeddedTls(): Promise<void>;
	setup(): void;
	startPipeline(): Promise<void>;
	stopPipeline(): Promise<void>;
};

function keepAliveOf(raw: unknown): (() => void) | undefined {
	const m = raw as { working?: () => void } | undefined;
	return m && typeof m.working === "function" ? () => m.working!() : undefined;
}

function payloadText(b64: string): { text: string; data: Record<string, unknown> } {
	const buf = Buffer.from(b64, "base64");
	const text = buf.toString("utf8");
	// Binary payloads survive the round trip through the dead-letter table as base64.
	return Buffer.from(text, "utf8").equals(buf) ? { text, data: {} } : { text, data: { payloadBase64: b64 } };
}

/** Bodies of created/started/stopped (methods, so `this` is typed as the pipeline). */
const lifecycle = {
	setup(this: PipelineThis) {
		// PIPELINE_STAGES: a node subscribes only to the channels of the stages it runs (the
		// channels middleware reads schema.channels right after `created`).
		const stages = fleetEnv(this.broker).pipelineStages;
		const channels = { ...(this.schema.channels as Record<string, unknown>) };
		if (!stages.includes("decode")) delete channels[CHANNELS.iotRaw];
		if (!stages.includes("sink")) delete channels[CHANNELS.telemetryReadings];
		(this.schema as { channels?: unknown }).channels = channels;
		this.stats = { received: 0, decodedMessages: 0, readings: 0, deadLetters: 0, replayed: 0 };
		this.rawPublisher = null;
		this.embedded = null;
		this.mqttClient = null;
		this.mqttSubscribed = false;
		this.metadataVersion = null;
		const env = fleetEnv(this.broker);
		this.sink = new BatchSink({
			batchSize: env.batchSize,
			flushMs: env.flushIntervalMs,
			write: rows => insertReadings(this.db, rows),
			isStopping: () => this.broker.stopping,
			isTransient: err => !isDataError(err),
			onPoison: async (rows, err) => {
				await insertDeadLetters(this.db, [
					{ source: "pipeline.sink", reason: `REFUSED: ${(err as Error).message}`.slice(0, 1000), data: { readings: rows.map(r => ({ ...r, ts: new Date(r.ts).toISOString() })) } }
				]);
				this.stats.deadLetters++;
			},
			onRetry: (err, attempt, delay) => {
				if (attempt === 1 || attempt % 10 === 0) this.logger.warn(`pipeline sink: write failed (${(err as Error).message}); retry ${attempt} in ${delay} ms, backlog stays in the channel`);
			}
		});
	},

	async startPipeline(this: PipelineThis) {
		const env = fleetEnv(this.broker);
		const mode = await applyRetention(this.db, env.dataRetentionDays).catch(err => {
			this.logger.warn(`pipeline: retention policy not applied (${(err as Error).message})`);
			return "unknown";
		});
		this.logger.info(`pipeline: decoded_data is ${mode === "timescaledb" ? `a TimescaleDB hypertable (retention ${env.dataRetentionDays || "∞"} days)` : "a plain table (BRIN on time)"}`);

		if (!env.pipelineStages.includes("ingest")) {
			this.logger.info(`pipeline: stages ${env.pipelineStages.join(", ")} (no MQTT ingest on this node)`);
			return;
		}
		this.rawPublisher = new BatchPublisher<RawMqttMessage>(this.broker, CHANNELS.iotRaw, {
			field: "messages",
			maxItems: RAW_PER_MESSAGE,
			flushMs: 10,
			maxBuffered: 200_000,
			onDrop: (count, reason) => this.logger.error(`pipeline ingest: dropped ${count} MQTT messages (${reason})`)
		}).registerHealth();

		if (env.mqttUrl) {
			// A shared subscription: several pipeline nodes split the stream instead of each taking all.
			const group = `$share/${env.namespace}-pipeline/`;
			const client = mqtt.connect(env.mqttUrl, {
				clientId: `fleetmesh-pipeline-${this.broker.nodeID}`.slice(0, 64),
				clean: true,
				reconnectPeriod: 1000,
				connectTimeout: 10_000
			});
			this.mqttClient = client;
			client.on("connect", () => {
				client.subscribe([`${group}stat/+/+/+/+`, `${group}tele/+/+/+/+`], { qos: 1 }, err => {
					if (err) return this.logger.error(`mqtt: subscribe failed: ${err.message}`);
					this.mqttSubscribed = true;
					this.logger.info(`mqtt: subscribed to stat/+/+/+/+ and tele/+/+/+/+ on ${env.mqttUrl}`);
				});
			});
			client.on("error", err => this.logger.warn(`mqtt: ${err.message}`));
			client.on("message", (topic, payload) => this.onMqttMessage(topic, payload));
			registerHealthCheck(this.broker, "mqtt", async () => {
				if (!client.connected) throw new Error(`not connected to ${env.mqttUrl}`);
				return "external";
			});
		} else {
			this.embedded = await EmbeddedBroker.start({
				plainPort: env.mqttPort,
				onMessage: (topic, payload) => this.onMqttMessage(topic, payload),
				logger: this.logger
			});
			registerHealthCheck(this.broker, "mqtt", async () => ({ embedded: true, tls: this.embedded?.tlsPort ?? null }));
			// The mTLS listener needs a server certificate from signing, which may start later.
			void this.startEmbeddedTls();
		}
	},

	async stopPipeline(this: PipelineThis) {
		if (this.mqttClient) await this.mqttClient.endAsync().catch(() => undefined);
		this.mqttClient = null;
		if (this.embedded) {
			const e = this.embedded;
			this.embedded = null;
			await e.close();
		}
		await this.rawPublisher?.close(3000);
		await this.sink.stop(3000);
	}
};

const PipelineService: ServiceSchema = {
	name: "pipeline",
	mixins: [DbMixin],
	settings: { rest: "/pipeline" },

	channels: {
		[CHANNELS.iotRaw]: {
			group: "pipeline-decode",
			maxInFlight: 8,
			// Handlers wait out outages themselves and throw only while the node stops:
			// a redelivery then is normal, not a reason to dead-letter the batch.
			maxRetries: 50,
			async handler(this: PipelineThis, payload: { messages?: unknown }, raw: unknown) {
				const keepAlive = keepAliveOf(raw);
				const messages = payload?.messages;
				if (!Array.isArray(messages)) {
					await this.untilDone("dead letter", () =>
						insertDeadLetters(this.db, [
							{ source: "pipeline.decode", reason: "BAD_BATCH: iot.raw message has no messages array", payload: JSON.stringify(payload).slice(0, 100_000) }
						])
					);
					this.stats.deadLetters++;
					return;
				}
				const { readings, dead } = await this.decodeMessages(messages as RawMqttMessage[], keepAlive);
				if (dead.length) {
					await this.untilDone("dead letters", () => insertDeadLetters(this.db, dead), keepAlive);
					this.stats.deadLetters += dead.length;
				}
				for (let i = 0; i < readings.length; i += READINGS_PER_MESSAGE) {
					const chunk = readings.slice(i, i + READINGS_PER_MESSAGE);
					await this.untilDone("telemetry.readings", () => this.broker.sendToChannel(CHANNELS.telemetryReadings, { readings: chunk }), keepAlive);
				}
				this.stats.readings += readings.length;
			}
		},

		[CHANNELS.telemetryReadings]: {
			group: "pipeline-sink",
			maxInFlight: 32,
			maxRetries: 50,
			async handler(this: PipelineThis, payload: { readings?: unknown }, raw: unknown) {
				const readings = payload?.readings;
				if (!Array.isArray(readings)) {
					await this.untilDone("dead letter", () =>
						insertDeadLetters(this.db, [{ source: "pipeline.sink", reason: "BAD_BATCH: telemetry.readings message has no readings array", payload: JSON.stringify(payload).slice(0, 100_000) }])
					);
					this.stats.deadLetters++;
					return;
				}
				const rows: Row[] = [];
				const bad: DeadLetterInput[] = [];
				for (const r of readings) {
					const problem = readingProblem(r);
					if (problem) bad.push({ source: "pipeline.sink", reason: `BAD_READING: ${problem}`, data: { readings: [r] } });
					else rows.push(toRow(r as Reading));
				}
				if (bad.length) {
					await this.untilDone("dead letters", () => insertDeadLetters(this.db, bad));
					this.stats.deadLetters += bad.length;
				}
				// Resolves after commit: only then does the channel acknowledge the message.
				await this.sink.add(rows, keepAliveOf(raw));
			}
		}
	},

	actions: {
		/**
		 * Decoding metadata of one controller. Cached; the decoder drops the cache when
		 * pipeline_metadata_seq moved (any change to devices.mac, datapoints, pipeline_sensors),
		 * and on the `cache.clean.pipeline` event.
		 */
		controller: {
			visibility: "public",
			params: { mac: { type: "string", pattern: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/ } },
			cache: { keys: ["mac"], ttl: 60 },
			async handler(this: PipelineThis, ctx: Context<{ mac: string }>): Promise<Lookup> {
				return (await loadControllerSpec(this.db, ctx.params.mac)) ?? { unknown: true, mac: ctx.params.mac };
			}
		},

		/** Raw payloads of every controller: administrators only. */
		deadLetters: {
			rest: "GET /dead-letters",
			auth: "admin",
			params: {
				open: { type: "boolean", convert: true, optional: true, default: true },
				source: { type: "string", optional: true, max: 64 },
				reason: { type: "string", optional: true, max: 64 },
				limit: { type: "number", integer: true, positive: true, max: 1000, convert: true, optional: true, default: 100 },
				offset: { type: "number", integer: true, min: 0, convert: true, optional: true, default: 0 }
			},
			async handler(this: PipelineThis, ctx: Context<{ open: boolean; source?: string; reason?: string; limit: number; offset: number }>) {
				const { open, source, reason, limit, offset } = ctx.params;
				const where = ["source LIKE 'pipeline.%'"];
				const args: unknown[] = [];
				if (open) where.push("replayed_at IS NULL");
				if (source) where.push(`source = $${args.push(source)}`);
				// Reasons start with their code: reason=UNKNOWN_MAC finds every unknown-MAC letter.
				if (reason) where.push(`reason LIKE $${args.push(reason.replace(/[%_\\]/g, "\\$&") + "%")}`);
				// One statement, one snapshot: the total always agrees with the rows.
				const found = await this.db.query<DeadLetterRow & { total: number }>(
					`SELECT id, source, reason, topic, payload, data, created_at, replayed_at, replay_count, last_error, count(*) OVER ()::int AS total
					 FROM dead_letters WHERE ${where.join(" AND ")} ORDER BY id LIMIT ${limit} OFFSET ${offset}`,
					args
				);
				let total = found[0]?.total ?? 0;
				if (found.length === 0 && offset > 0) {
					total = (await this.db.query<{ total: number }>(`SELECT count(*)::int AS total FROM dead_letters WHERE ${where.join(" AND ")}`, args))[0].total;
				}
				const rows = found.map(({ total: _t, ...r }) => r);
				return { total, rows };
			}
		},

		/** Decodes open dead letters again (after the metadata was fixed) and stores what now decodes. */
		replayDeadLetters: {
			rest: "POST /dead-letters/replay",
			auth: "admin",
			params: {
				ids: { type: "array", items: { type: "number", integer: true, positive: true }, optional: true, max: 10_000 },
				limit: { type: "number", integer: true, positive: true, max: 10_000, convert: true, optional: true, default: 1000 }
			},
			async handler(this: PipelineThis, ctx: Context<{ ids?: number[]; limit: number }>) {
				// The metadata may just have been fixed: forget every cached lookup, on every node.
				await this.broker.broadcast("cache.clean.pipeline");
				await this.broker.cacher?.clean("pipeline.**");
				const args: unknown[] = [ctx.params.limit];
				let filter = "";
				if (ctx.params.ids?.length) filter = `AND id = ANY($${args.push(ctx.params.ids)}::bigint[])`;
				const letters = await this.db.query<DeadLetterRow>(
					`SELECT id, source, reason, topic, payload, data FROM dead_letters
					 WHERE replayed_at IS NULL AND source IN ('pipeline.decode', 'pipeline.sink') ${filter}
					 ORDER BY id LIMIT $1`,
					args
				);
				const ok: number[] = [];
				const failed: { id: number; reason: string }[] = [];
				const rows: Row[] = [];
				const decodeLetters = letters.filter(l => l.source === "pipeline.decode" && l.topic != null);
				const decoded = await Promise.all(
					decodeLetters.map(async l => {
						const b64 = typeof l.data?.payloadBase64 === "string" ? (l.data.payloadBase64 as string) : Buffer.from(l.payload ?? "", "utf8").toString("base64");
						const r = await this.decodeMessages([{ topic: l.topic!, payload: b64, receivedAt: String(l.data?.receivedAt ?? "") }]);
						return { l, r };
					})
				);
				for (const { l, r } of decoded) {
					if (r.dead.length) failed.push({ id: l.id, reason: r.dead[0].reason });
					else {
						ok.push(l.id);
						rows.push(...r.readings.map(toRow));
					}
				}
				for (const l of letters) {
					if (l.source === "pipeline.sink") {
						const readings = Array.isArray(l.data?.readings) ? (l.data.readings as unknown[]) : null;
						const problem = readings ? readings.map(readingProblem).find(p => p) : "no readings recorded";
						if (problem) failed.push({ id: l.id, reason: `BAD_READING: ${problem}` });
						else {
							ok.push(l.id);
							rows.push(...(readings as Reading[]).map(toRow));
						}
					} else if (l.topic == null) failed.push({ id: l.id, reason: "BAD_BATCH: not a single MQTT message" });
				}
				const stored = await insertReadings(this.db, rows);
				await this.db.transaction(async tx => {
					if (ok.length) await tx.query("UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1, last_error = NULL WHERE id = ANY($1::bigint[])", [ok]);
					if (failed.length)
						await tx.query(
							"UPDATE dead_letters d SET replay_count = replay_count + 1, last_error = f.reason FROM unnest($1::bigint[], $2::text[]) AS f(id, reason) WHERE d.id = f.id",
							[failed.map(f => f.id), failed.map(f => f.reason)]
						);
				});
				this.stats.replayed += ok.length;
				return { replayed: ok.length, failed: failed.length, rowsStored: stored, failures: failed.slice(0, 100) };
			}
		},

		stats: {
			rest: "GET /stats",
			handler(this: PipelineThis) {
				return {
					...this.stats,
					ingest: this.rawPublisher?.stats ?? null,
					sink: this.sink.stats,
					broker: this.embedded
						? { embedded: true, subscribed: true, plainPort: this.embedded.plainPort, plainAddress: this.embedded.plainAddress, tlsPort: this.embedded.tlsPort, ...this.embedded.stats }
						: { embedded: false, connected: !!this.mqttClient?.connected, subscribed: this.mqttSubscribed }
				};
			}
		}
	},

	events: {
		// Whoever changes the device registry or datapoints broadcasts this event.
		"cache.clean.pipeline"(this: PipelineThis) {
			void this.broker.cacher?.clean("pipeline.**");
		}
	},

	methods: {
		...lifecycle,

		onMqttMessage(this: PipelineThis, topic: string, payload: Buffer) {
			this.stats.received++;
			if (payload.length > MAX_PAYLOAD_BYTES || topic.length > 512) {
				// Too big for a frame (and for a channel batch): kept as a dead letter, not forwarded.
				this.stats.deadLetters++;
				const letter: DeadLetterInput = {
					source: "pipeline.decode",
					reason: `TOO_LARGE: ${payload.length}-byte payload on a ${topic.length}-character topic (limits ${MAX_PAYLOAD_BYTES} and 512)`,
					topic: topic.slice(0, 512),
					payload: payload.subarray(0, MAX_PAYLOAD_BYTES).toString("utf8"),
					data: { code: "TOO_LARGE", bytes: payload.length, receivedAt: new Date().toISOString() }
				};
				void this.untilDone("dead letter", () => insertDeadLetters(this.db, [letter])).catch(() => undefined);
				return;
			}
			try {
				void this.rawPublisher?.push({ topic, payload: payload.toString("base64"), receivedAt: new Date().toISOString() });
			} catch (err) {
				// Only possible once stopping closed the publisher (the MQTT client is ended before it):
				// logged loudly rather than thrown inside the MQTT client's event handler.
				this.logger.error(`pipeline ingest: message on ${topic} lost while stopping (${(err as Error).message})`);
			}
		},

		async decodeMessages(this: PipelineThis, messages: RawMqttMessage[], keepAlive?: () => void) {
			const now = Date.now();
			const dead: DeadLetterInput[] = [];
			const parsed: { topic: ReturnType<typeof parseTopic>; frame: ReturnType<typeof parsePayload>; m: RawMqttMessage }[] = [];
			const fail = (m: RawMqttMessage, err: unknown) => {
				const code = err instanceof DecodeError ? err.code : "DECODE_FAILED";
				const { text, data } = payloadText(typeof m?.payload === "string" ? m.payload : "");
				dead.push({
					source: "pipeline.decode",
					reason: `${code}: ${(err as Error).message}`,
					topic: typeof m?.topic === "string" ? m.topic : null,
					payload: text,
					data: { ...data, code, receivedAt: m?.receivedAt ?? null }
				});
			};
			for (const m of messages) {
				try {
					if (typeof m?.topic !== "string" || typeof m?.payload !== "string") throw new DecodeError("BAD_PAYLOAD", "iot.raw entry needs topic and base64 payload strings");
					parsed.push({ topic: parseTopic(m.topic), frame: parsePayload(Buffer.from(m.payload, "base64"), now), m });
				} catch (err) {
					fail(m, err);
				}
			}
			const specs = await this.untilDone(
				"metadata",
				async () => {
					if (parsed.length === 0) return new Map<string, Lookup>();
					// The registry changed since the last batch: cached lookups are stale on this node.
					const version = await metadataVersion(this.db);
					if (version !== this.metadataVersion) {
						if (this.metadataVersion !== null) await this.broker.cacher?.clean("pipeline.controller:**");
						this.metadataVersion = version;
					}
					return this.lookupControllers([...new Set(parsed.map(p => p.topic.mac))]);
				},
				keepAlive
			);
			const readings: Reading[] = [];
			for (const p of parsed) {
				const spec = specs.get(p.topic.mac);
				try {
					if (!spec || "unknown" in spec) throw new DecodeError("UNKNOWN_MAC", `no controller with MAC ${p.topic.mac} in the device registry`);
					const out = decodeFrame(spec, p.topic.sensor, p.frame);
					for (const r of out) readings.push(r);
				} catch (err) {
					fail(p.m, err);
				}
			}
			this.stats.decodedMessages += parsed.length;
			return { readings, dead };
		},

		async lookupControllers(this: PipelineThis, macs: string[]) {
			const out = new Map<string, Lookup>();
			await Promise.all(macs.map(async mac => out.set(mac, await this.broker.call<Lookup, { mac: string }>("pipeline.controller", { mac }))));
			return out;
		},

		/**
		 * Runs fn until it succeeds, backing off to 5 s: a database or channel outage is waited
		 * out with the channel message unacknowledged. Gives up only when the node stops.
		 */
		async untilDone<T>(this: PipelineThis, what: string, fn: () => Promise<T>, keepAlive?: () => void): Promise<T> {
			let delay = 100;
			for (let attempt = 1; ; attempt++) {
				try {
					return await fn();
				} catch (err) {
					if (this.broker.stopping) throw err;
					if (attempt === 1 || attempt % 10 === 0) this.logger.warn(`pipeline: ${what} failed (${(err as Error).message}); retrying`);
					keepAlive?.();
					await new Promise(r => setTimeout(r, delay));
					delay = Math.min(delay * 2, 5000);
				}
			}
		},

		async startEmbeddedTls(this: PipelineThis) {
			const env = fleetEnv(this.broker);
			try {
				// signing may start later or on another node; give up only when this node stops.
				while (!(await this.broker.waitForServices(["signing"], 10_000).then(() => true, () => false))) {
					if (this.broker.stopping || !this.embedded) return;
					this.logger.info("mqtt: waiting for the signing service (server certificate of the mTLS listener)");
				}
				const material = await this.broker.call<{ cert: string; key: string; ca: string }, { commonName: string; hosts: string[] }>("signing.issueServerCert", {
					commonName: "fleetmesh-mqtt",
					hosts: [...new Set(["localhost", "127.0.0.1", os.hostname()])]
				});
				if (!this.embedded) return;
				await this.embedded.listenTls(env.mqttsPort, material);
			} catch (err) {
				if (this.embedded) this.logger.error(`mqtt: mTLS listener on ${env.mqttsPort} not started: ${(err as Error).message}`);
			}
		}
	},

	created(this: Service) {
		(this as PipelineThis).setup();
	},

	async started(this: Service) {
		await (this as PipelineThis).startPipeline();
	},

	async stopped(this: Service) {
		await (this as PipelineThis).stopPipeline();
	}
};

export default PipelineService;
