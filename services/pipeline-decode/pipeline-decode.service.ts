/**
 * pipeline-decode: iot.raw (group pipeline-decode) → metadata-driven frames →
 * telemetry.readings; anything undecodable → dead_letters with the reason. Also the
 * dead-letter routes (list, replay after the metadata was fixed), the cached controller
 * metadata lookup, and the API that registers a controller's sensors and decoding
 * (`/api/devices/:id/sensors`: the metadata is this service's, so it lives here). See docs/pipeline.md.
 *
 * An iot.raw message is acknowledged only after its readings are on telemetry.readings and its
 * dead letters are in PostgreSQL; outages are waited out with the message unacknowledged.
 */
import type { Context, Service } from "moleculer";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { DEFAULT_PAGE, decodeCursor, isPositiveInt, pageOf, pageParams, toPage, wholeList } from "../shared/lists";
import { CHANNELS, packReadings, type RawEntry, type RawMqttMessage } from "../shared/contracts";
import { errorMessage } from "../shared/error-message";
import { keepAliveOf, untilDone, type KeepAlive } from "../shared/pipeline/retry";
import { insertDeadLetters } from "../shared/pipeline/storage";
import { listDeadLetters, replayDeadLetters, toDeadLetterView, type ListParams } from "./dead-letters";
import { decodeBatch, rawMessagesOf, type Lookup } from "./decode-batch";
import { loadControllerSpec, loadControllerSpecs, metadataVersion } from "./metadata";
import { warmUpDecode } from "./warm-up";
import { registerWarmUp } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import { defineService } from "../shared/define-service";
import { requireDeviceAccess } from "../../mixins/authorization";
import { idParam } from "../shared/params";
import { NotFoundError, UnprocessableError } from "../shared/errors";
import {
	SENSOR_BODY_PARAMS,
	SENSOR_LIMITS,
	SENSORS_BODY_PARAMS,
	Sensor,
	SensorDeleted,
	type SensorInput
} from "../shared/contracts/controller-sensors";
import { DeadLetterReplay, DeadLetterView, DecodeStats } from "../shared/contracts/api";
import { checkSensors, controllerMac, deleteSensor, putSensor, readSensors, replaceSensors } from "./sensors";

/** A sensor number in a path: any id, so an unknown one is a 404 like an unknown device. */
const sensorParam = { ...idParam, positive: false, min: 0 } as const;

/** Largest telemetry.readings message the decoder sends (readings). */
const READINGS_PER_MESSAGE = 5000;

/** How long a controller's cached metadata is used before it is read again (seconds). */
const CONTROLLER_CACHE_TTL = 60;

/** Controllers whose metadata the warm-up loads into the cache (beyond that, the first frame loads it). */
const WARM_UP_CONTROLLERS = 5000;

type DecodeThis = Service & {
	db: Database;
	stats: DecodeStats;
	metadataVersion: string | null;
	/** Lookups in flight, by metadata version and MAC: concurrent batches of a controller share one. */
	lookupsInFlight: Map<string, Promise<Lookup>>;
	/** The metadata version read in flight: batches that start meanwhile share it. */
	versionRead: Promise<string> | null;
	readVersion(): Promise<string>;
	warmUp: { done(detail?: unknown): void };
	warmMetadata(): Promise<number>;
	retry<T>(what: string, fn: () => Promise<T>, keepAlive?: KeepAlive): Promise<T>;
	requireController(id: number): Promise<void>;
	lookupControllers(macs: string[], keepAlive?: KeepAlive): Promise<Map<string, Lookup>>;
	decodeRaw(payload: { messages?: unknown; packed?: unknown }, keepAlive?: KeepAlive): Promise<void>;
};

const PipelineDecodeService = defineService<DecodeThis>({
	name: "pipeline-decode",
	mixins: [DbMixin],
	// Routes are absolute: the dead letters under /pipeline, a controller's sensors under its device.
	settings: { rest: "/" },

	channels: {
		[CHANNELS.iotRaw]: {
			group: "pipeline-decode",
			maxInFlight: 8,
			// Handlers wait out outages themselves and throw only while the node stops:
			// a redelivery then is normal, not a reason to dead-letter the batch.
			maxRetries: 50,
			handler(this: DecodeThis, payload: { messages?: unknown; packed?: unknown }, raw: unknown) {
				return this.decodeRaw(payload, keepAliveOf(raw));
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
			cache: { keys: ["mac"], ttl: CONTROLLER_CACHE_TTL },
			async handler(this: DecodeThis, ctx: Context<{ mac: string }>): Promise<Lookup> {
				return (await loadControllerSpec(this.db, ctx.params.mac)) ?? { unknown: true, mac: ctx.params.mac };
			}
		},

		/** Raw payloads of every controller: administrators only. */
		deadLetters: {
			rest: "GET /pipeline/dead-letters",
			answer: pageOf(DeadLetterView),
			auth: "admin",
			params: {
				open: { type: "boolean", convert: true, optional: true, default: true },
				source: { type: "string", optional: true, max: 64 },
				reason: { type: "string", optional: true, max: 64 },
				...pageParams()
			},
			/** A list page (docs/api.md): `{ items, nextCursor, total }`, oldest first, keyed by id. */
			async handler(
				this: DecodeThis,
				ctx: Context<Omit<ListParams, "limit" | "afterId"> & { limit?: number; cursor?: string }>
			) {
				const { cursor, limit = DEFAULT_PAGE, ...filter } = ctx.params;
				const afterId = decodeCursor(cursor, isPositiveInt);
				const { rows, total } = await listDeadLetters(this.db, { ...filter, limit: limit + 1, afterId });
				return toPage(rows.map(toDeadLetterView), limit, l => l.id, total);
			}
		},

		/** Decodes open dead letters again (after the metadata was fixed) and stores what now decodes. */
		replayDeadLetters: {
			rest: "POST /pipeline/dead-letters/replay",
			answer: DeadLetterReplay,
			auth: "admin",
			params: {
				ids: {
					type: "array",
					items: { type: "number", integer: true, positive: true },
					optional: true,
					max: 10_000
				},
				limit: {
					type: "number",
					integer: true,
					positive: true,
					max: 10_000,
					convert: true,
					optional: true,
					default: 1000
				}
			},
			async handler(this: DecodeThis, ctx: Context<{ ids?: number[]; limit: number }>) {
				// The metadata may just have been fixed: forget every cached lookup, on every node.
				await this.broker.broadcast("cache.clean.pipeline");
				await this.broker.cacher?.clean("pipeline-decode.**");
				const result = await replayDeadLetters(this.db, ctx.params, macs => this.lookupControllers(macs));
				this.stats.replayed += result.replayed;
				return result;
			}
		},

		/** A controller's sensors, each with the datapoints decoded from its frame (owner or admin). */
		sensors: {
			rest: "GET /devices/:id/sensors",
			answer: pageOf(Sensor),
			auth: "user",
			params: { id: idParam, $$strict: true },
			async handler(this: DecodeThis, ctx: Context<{ id: number }>) {
				await requireDeviceAccess(ctx, ctx.params.id);
				return wholeList(await readSensors(this.db, ctx.params.id));
			}
		},

		/**
		 * Replaces every sensor and decoding of a controller (owner or admin). The decoders pick it up
		 * at their next batch (pipeline_metadata_seq moves), without a restart.
		 */
		setSensors: {
			rest: "PUT /devices/:id/sensors",
			answer: pageOf(Sensor),
			auth: "user",
			params: { id: idParam, ...SENSORS_BODY_PARAMS, $$strict: true },
			async handler(this: DecodeThis, ctx: Context<{ id: number; sensors: SensorInput[] }>) {
				const { id, sensors } = ctx.params;
				await requireDeviceAccess(ctx, id);
				const problems = checkSensors(sensors);
				if (problems.length) throw new UnprocessableError(problems.map(p => p.message).join(" "), problems);
				await this.requireController(id);
				await replaceSensors(this.db, id, sensors);
				return wholeList(await readSensors(this.db, id));
			}
		},

		/** One sensor of a controller (404: no such device for the caller, or no such sensor). */
		sensor: {
			rest: "GET /devices/:id/sensors/:sensor",
			answer: Sensor,
			auth: "user",
			params: { id: idParam, sensor: sensorParam, $$strict: true },
			async handler(this: DecodeThis, ctx: Context<{ id: number; sensor: number }>) {
				await requireDeviceAccess(ctx, ctx.params.id);
				const found = (await readSensors(this.db, ctx.params.id)).find(s => s.sensor === ctx.params.sensor);
				if (!found) throw new NotFoundError("Sensor", ctx.params.sensor);
				return found;
			}
		},

		/** Adds (201) or replaces (200) one sensor, checked against the controller's other sensors. */
		putSensor: {
			rest: "PUT /devices/:id/sensors/:sensor",
			answer: Sensor,
			auth: "user",
			params: { id: idParam, sensor: sensorParam, ...SENSOR_BODY_PARAMS, $$strict: true },
			async handler(this: DecodeThis, ctx: Context<SensorInput & { id: number }>) {
				const { id, ...sensor } = ctx.params;
				await requireDeviceAccess(ctx, id);
				if (sensor.sensor > SENSOR_LIMITS.maxSensorNumber)
					throw new UnprocessableError(
						`The 'sensor' field must be at most ${SENSOR_LIMITS.maxSensorNumber} (got ${sensor.sensor}).`,
						[{ field: "sensor", actual: sensor.sensor, expected: `0..${SENSOR_LIMITS.maxSensorNumber}` }]
					);
				await this.requireController(id);
				const { created, problems } = await putSensor(this.db, id, sensor);
				if (problems.length) throw new UnprocessableError(problems.map(p => p.message).join(" "), problems);
				if (created) {
					const meta = ctx.meta as { $statusCode?: number; $location?: string };
					meta.$statusCode = 201;
					meta.$location = `/api/devices/${id}/sensors/${sensor.sensor}`;
				}
				return (await readSensors(this.db, id)).find(s => s.sensor === sensor.sensor);
			}
		},

		/** Removes one sensor: its frames become dead letters UNKNOWN_SENSOR; its datapoints keep their readings. */
		deleteSensor: {
			rest: "DELETE /devices/:id/sensors/:sensor",
			answer: SensorDeleted,
			auth: "user",
			params: { id: idParam, sensor: sensorParam, $$strict: true },
			async handler(this: DecodeThis, ctx: Context<{ id: number; sensor: number }>) {
				await requireDeviceAccess(ctx, ctx.params.id);
				if (!(await deleteSensor(this.db, ctx.params.id, ctx.params.sensor)))
					throw new NotFoundError("Sensor", ctx.params.sensor);
				return { id: ctx.params.id, sensor: ctx.params.sensor, deleted: true };
			}
		},

		stats: {
			rest: "GET /pipeline/decode/stats",
			answer: DecodeStats,
			handler(this: DecodeThis) {
				return { ...this.stats };
			}
		}
	},

	events: {
		// Whoever changes the device registry or datapoints broadcasts this event.
		"cache.clean.pipeline"(this: DecodeThis) {
			void this.broker.cacher?.clean("pipeline-decode.**");
		}
	},

	methods: {
		/** 422 for a device without a MAC: frames are matched to a controller by its MAC. */
		async requireController(this: DecodeThis, id: number) {
			if (!(await controllerMac(this.db, id)))
				throw new UnprocessableError(`Device ${id} has no MAC: register the controller with its mac.`, [
					{ field: "mac", actual: null, expected: "a device with a MAC (POST /api/devices { name, mac })" }
				]);
		},

		retry<T>(this: DecodeThis, what: string, fn: () => Promise<T>, keepAlive?: KeepAlive): Promise<T> {
			const ctx = {
				logger: this.logger,
				isStopping: () => this.broker.stopping,
				onRetry: () => void this.stats.retries++
			};
			return untilDone(ctx, what, fn, keepAlive);
		},

		async decodeRaw(this: DecodeThis, payload: { messages?: unknown; packed?: unknown }, keepAlive?: KeepAlive) {
			let messages: (RawEntry | RawMqttMessage)[];
			try {
				messages = rawMessagesOf(payload);
			} catch (err) {
				await this.retry("dead letter", () =>
					insertDeadLetters(this.db, [
						{
							source: "pipeline.decode",
							reason: `BAD_BATCH: ${errorMessage(err)}`,
							payload: JSON.stringify(payload).slice(0, 100_000)
						}
					])
				);
				this.stats.deadLetters++;
				return;
			}
			const { readings, dead, parsed } = await decodeBatch(messages, macs =>
				this.lookupControllers(macs, keepAlive)
			);
			this.stats.decodedMessages += parsed;
			if (dead.length) {
				await this.retry("dead letters", () => insertDeadLetters(this.db, dead), keepAlive);
				this.stats.deadLetters += dead.length;
			}
			for (let i = 0; i < readings.length; i += READINGS_PER_MESSAGE) {
				const packed = packReadings(readings.slice(i, i + READINGS_PER_MESSAGE));
				await this.retry(
					"telemetry.readings",
					() => this.broker.sendToChannel(CHANNELS.telemetryReadings, packed),
					keepAlive
				);
			}
			this.stats.readings += readings.length;
		},

		/** Cached lookups; dropped when the registry changed since the last batch (whoever changed it). */
		lookupControllers(this: DecodeThis, macs: string[], keepAlive?: KeepAlive) {
			return this.retry(
				"metadata",
				async () => {
					const version = await this.readVersion();
					if (version !== this.metadataVersion) {
						if (this.metadataVersion !== null)
							await this.broker.cacher?.clean("pipeline-decode.controller:**");
						this.metadataVersion = version;
					}
					const out = new Map<string, Lookup>();
					await Promise.all(
						macs.map(async mac => {
							// Up to maxInFlight batches miss the cache of the same controllers at once (the
							// first ones after a start or a change): one call each, not one per batch.
							const key = `${version}\n${mac}`;
							let call = this.lookupsInFlight.get(key);
							if (!call) {
								call = this.broker
									.call<Lookup, { mac: string }>("pipeline-decode.controller", { mac })
									.finally(() => this.lookupsInFlight.delete(key));
								this.lookupsInFlight.set(key, call);
							}
							out.set(mac, await call);
						})
					);
					return out;
				},
				keepAlive
			);
		},

		/**
		 * The metadata version for a batch about to decode. Up to maxInFlight batches start at once
		 * under a backlog (a start, an outage's end): they share one query instead of sending one
		 * each to a database the sink is busy writing to. A change committed while that query was
		 * on its way is seen by the batches after it (one round trip later).
		 */
		readVersion(this: DecodeThis) {
			this.versionRead ??= metadataVersion(this.db).finally(() => (this.versionRead = null));
			return this.versionRead;
		},

		/**
		 * The registry's controllers into the lookup cache, in three queries, under the version read
		 * before them (a change meanwhile moves the version: the first batch then drops them again).
		 */
		async warmMetadata(this: DecodeThis) {
			const cacher = this.broker.cacher;
			if (!cacher) return 0;
			const version = await metadataVersion(this.db);
			const specs = await loadControllerSpecs(this.db, WARM_UP_CONTROLLERS);
			for (const spec of specs) {
				const key = cacher.getCacheKey("pipeline-decode.controller", { mac: spec.mac }, {}, ["mac"]);
				await cacher.set(key, spec, CONTROLLER_CACHE_TTL);
			}
			this.metadataVersion = version;
			return specs.length;
		}
	},

	created(this: DecodeThis) {
		this.stats = { decodedMessages: 0, readings: 0, deadLetters: 0, replayed: 0, retries: 0 };
		this.metadataVersion = null;
		this.lookupsInFlight = new Map();
		this.versionRead = null;
		this.warmUp = registerWarmUp(this.broker, "pipeline-decode");
	},

	/** Warms up before the channels subscribe (they do once every service started). */
	async started(this: DecodeThis) {
		if (!fleetEnv(this.broker).pipelineWarmUp) return this.warmUp.done({ skipped: "PIPELINE_WARM_UP=0" });
		const started = Date.now();
		try {
			const readings = await warmUpDecode();
			const controllers = await this.warmMetadata();
			this.warmUp.done({ controllers, readings, ms: Date.now() - started });
		} catch (err) {
			this.logger.warn(`pipeline decode: warm-up failed (${errorMessage(err)}); the first batches load it`);
			this.warmUp.done({ failed: errorMessage(err) });
		}
	}
});

export default PipelineDecodeService;
