/**
 * pipeline-sink: telemetry.readings (group pipeline-sink, whoever published: the decoder and
 * the device processor) → COPY into decoded_data, acknowledged only after commit; retried
 * while PostgreSQL is down. See docs/pipeline.md.
 */
import type { Service } from "moleculer";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { fleetEnv } from "../shared/broker-env";
import { CHANNELS, checkReadings, readingsOf } from "../shared/contracts";
import { keepAliveOf, untilDone, type KeepAlive } from "../shared/pipeline/retry";
import {
	applyRetention,
	insertDeadLetters,
	insertReadings,
	isDataError,
	warmUpWrites,
	type DeadLetterInput
} from "../shared/pipeline/storage";
import { BatchSink } from "./sink";
import { defineService } from "../shared/define-service";
import { errorMessage } from "../shared/error-message";
import { registerWarmUp } from "../../mixins/health";
import { warmUpStore } from "./warm-up";

type SinkThis = Service & {
	db: Database;
	sink: BatchSink;
	deadLetters: number;
	warmUp: { done(detail?: unknown): void };
	store(payload: unknown, keepAlive?: KeepAlive): Promise<void>;
	deadLetter(letters: DeadLetterInput[]): Promise<void>;
};

const PipelineSinkService = defineService<SinkThis>({
	name: "pipeline-sink",
	mixins: [DbMixin],
	settings: { rest: "/pipeline" },

	channels: {
		[CHANNELS.telemetryReadings]: {
			group: "pipeline-sink",
			maxInFlight: 32,
			maxRetries: 50,
			handler(this: SinkThis, payload: unknown, raw: unknown) {
				return this.store(payload, keepAliveOf(raw));
			}
		}
	},

	actions: {
		stats: {
			rest: "GET /sink/stats",
			handler(this: SinkThis) {
				return { deadLetters: this.deadLetters, sink: this.sink.stats };
			}
		}
	},

	methods: {
		async store(this: SinkThis, payload: unknown, keepAlive?: KeepAlive) {
			let readings: unknown[];
			try {
				readings = readingsOf(payload);
			} catch (err) {
				return this.deadLetter([
					{
						source: "pipeline.sink",
						reason: `BAD_BATCH: ${errorMessage(err)}`,
						payload: JSON.stringify(payload).slice(0, 100_000)
					}
				]);
			}
			// An accepted reading (ts in epoch ms) is a row as it is.
			const { accepted: rows, refused } = checkReadings(readings);
			if (refused.length)
				await this.deadLetter(
					refused.map(({ reading, problem }) => ({
						source: "pipeline.sink",
						reason: `BAD_READING: ${problem}`,
						data: { readings: [reading] }
					}))
				);
			// Resolves after commit: only then does the channel acknowledge the message.
			await this.sink.add(rows, keepAlive);
		},

		async deadLetter(this: SinkThis, letters: DeadLetterInput[]) {
			await untilDone({ logger: this.logger, isStopping: () => this.broker.stopping }, "dead letters", () =>
				insertDeadLetters(this.db, letters)
			);
			this.deadLetters += letters.length;
		}
	},

	created(this: SinkThis) {
		const env = fleetEnv(this.broker);
		this.deadLetters = 0;
		this.warmUp = registerWarmUp(this.broker, "pipeline-sink");
		this.sink = new BatchSink({
			batchSize: env.batchSize,
			flushMs: env.flushIntervalMs,
			write: rows => insertReadings(this.db, rows),
			isStopping: () => this.broker.stopping,
			isTransient: err => !isDataError(err),
			onPoison: async (rows, err) => {
				await insertDeadLetters(this.db, [
					{
						source: "pipeline.sink",
						reason: `REFUSED: ${errorMessage(err)}`.slice(0, 1000),
						data: { readings: rows.map(r => ({ ...r, ts: new Date(r.ts).toISOString() })) }
					}
				]);
				this.deadLetters++;
			},
			onRetry: (err, attempt, delay) => {
				if (attempt === 1 || attempt % 10 === 0)
					this.logger.warn(
						`pipeline sink: write failed (${errorMessage(err)}); retry ${attempt} ` +
							`in ${delay} ms, backlog stays in the channel`
					);
			}
		});
	},

	async started(this: SinkThis) {
		const env = fleetEnv(this.broker);
		const mode = await applyRetention(this.db, env.dataRetentionDays).catch(err => {
			this.logger.warn(`pipeline sink: retention policy not applied (${errorMessage(err)})`);
			return "unknown";
		});
		this.logger.info(
			"pipeline sink: decoded_data is " +
				(mode === "timescaledb"
					? `a TimescaleDB hypertable (retention ${env.dataRetentionDays || "∞"} days)`
					: "a plain table (BRIN on time)")
		);
		if (!env.pipelineWarmUp) return this.warmUp.done({ skipped: "PIPELINE_WARM_UP=0" });
		// Before the channels subscribe (after every service started): the first batches find the
		// pool's connections open and each one's COPY and rollup trigger already planned.
		const started = Date.now();
		try {
			const rows = warmUpStore();
			const connections = await warmUpWrites(this.db, env.dbPoolMax);
			this.warmUp.done({ connections, rows, ms: Date.now() - started });
		} catch (err) {
			this.logger.warn(`pipeline sink: warm-up failed (${errorMessage(err)}); the first writes open their own`);
			this.warmUp.done({ failed: errorMessage(err) });
		}
	},

	async stopped(this: SinkThis) {
		await this.sink.stop(3000);
	}
});

export default PipelineSinkService;
