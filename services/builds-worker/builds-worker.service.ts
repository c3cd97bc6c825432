/**
 * builds-worker: runs queued firmware builds with the configured builder (ASU_BUILDER).
 * Any number of worker nodes pull from one BullMQ queue on Redis; ASU_WORKER_CONCURRENCY jobs
 * each. On stop it finishes what it is building (BullMQ's close waits for active jobs); a
 * worker that dies mid-build loses its lock and the job is retaken by another worker.
 */
import type { Service } from "moleculer";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { registerHealthCheck } from "../../mixins/health";
import {
	acquireQueue,
	releaseQueue,
	type BuildQueue,
	type BuildWorker,
	type JobContext,
	type WorkerOptions
} from "../shared/asu/queue";
import { parseOrdered } from "../shared/asu/ordered-json";
import { metadataFor } from "../shared/asu/sources";
import { cleanError, recordEvents, recordPackages } from "../shared/asu/stats";
import { fleetEnv } from "../shared/broker-env";
import type { BuildRequest } from "../shared/contracts/builds";
import { BUILD_METRICS, registerBuildMetrics } from "../shared/asu/metrics";
import { createBuilder } from "./builders";
import type { Builder } from "./builders/types";
import { INSTALLABLE_TYPES, runBuild } from "./build-flow";
import { defineService } from "../shared/define-service";
import { errorMessage } from "../shared/error-message";

type WorkerThis = Service & {
	db: Database;
	queue: BuildQueue;
	builder: Builder | null;
	worker: BuildWorker | null;
	problem: string | null;
	process(job: JobContext): Promise<Record<string, unknown>>;
	finished: NonNullable<WorkerOptions["onFinished"]>;
};

/** Requested packages that are not defaults of the release or the device (upstream stats:packages). */
export function extraPackages(request: BuildRequest, result: Record<string, unknown> | undefined): string[] {
	const defaults = new Set([
		...((result?.default_packages as string[]) ?? []),
		...((result?.device_packages as string[]) ?? [])
	]);
	return request.packages.filter(p => !p.startsWith("-") && !defaults.has(p));
}

const BuildsWorkerService = defineService<WorkerThis>({
	name: "builds-worker",
	mixins: [DbMixin],

	actions: {
		/** Whether this node builds (the API answers 503 while no worker can). */
		state: {
			visibility: "public",
			handler(this: WorkerThis) {
				return {
					nodeID: this.broker.nodeID,
					builder: this.builder?.name ?? null,
					ready: !!this.worker,
					simulated: !!this.builder?.simulated,
					problem: this.problem
				};
			}
		}
	},

	methods: {
		process(this: WorkerThis, job: JobContext) {
			const request = parseOrdered(job.data.request) as BuildRequest;
			this.logger.info(
				`build ${job.id.slice(0, 12)} started on ${this.broker.nodeID}: ${request.version} ` +
					`${request.target} ${request.profile}`
			);
			return runBuild({
				request,
				requestHash: job.id,
				builder: this.builder!,
				storeDir: fleetEnv(this.broker).builds.storeDir,
				signal: job.signal,
				setMeta: m => job.setMeta(m),
				skipPackageChanges: job.data.prepared === true
			});
		},

		finished(this: WorkerThis, id, data, outcome) {
			const request = parseOrdered(data.request) as BuildRequest;
			const base = {
				requestHash: id,
				client: data.client,
				version: request.version,
				target: request.target,
				profile: request.profile,
				durationMs: outcome.ms
			};
			this.broker.metrics?.observe(BUILD_METRICS.duration, outcome.ms / 1000, {
				outcome: outcome.ok ? "done" : "failed"
			});
			const images = outcome.ok
				? ((outcome.result.images as Array<{ name: string; type: string; filesystem: string }>) ?? [])
						.filter(i => INSTALLABLE_TYPES.includes(i.type))
						.map(i => ({ name: i.name, type: i.type, filesystem: i.filesystem }))
				: null;
			const rows = [
				outcome.ok
					? { ...base, event: "successes" as const, images }
					: { ...base, event: "failures" as const, error: cleanError(outcome.error) }
			];
			this.logger.info(
				`build ${id.slice(0, 12)} ${request.version} ${request.target} ${request.profile}: ` +
					`${outcome.ok ? "done" : outcome.error} (${outcome.ms} ms)`
			);
			void Promise.all([
				recordEvents(this.db, rows),
				recordPackages(
					this.db,
					request.version,
					extraPackages(request, outcome.ok ? outcome.result : undefined)
				)
			]).catch(err => this.logger.warn(`build statistics not recorded: ${errorMessage(err)}`));
		}
	},

	created(this: WorkerThis) {
		const env = fleetEnv(this.broker);
		this.builder = createBuilder(env.builds, metadataFor(env.builds));
		this.worker = null;
		this.problem = this.builder ? null : "no builder configured on this node (ASU_BUILDER)";
		registerBuildMetrics(this.broker);
	},

	async started(this: WorkerThis) {
		const env = fleetEnv(this.broker);
		if (!this.builder) {
			this.logger.warn(
				"builds-worker: no builder configured (ASU_BUILDER=podman|local|simulated): this node builds nothing"
			);
			return;
		}
		const problem = await this.builder.check();
		if (problem) {
			// A worker that cannot build must not take jobs from the queue: other workers will.
			this.logger.error(
				`builds-worker: the ${this.builder.name} builder cannot run here: ${problem}. This node ` +
					`takes no build jobs.`
			);
			this.problem = `the ${this.builder.name} builder cannot run on node ${this.broker.nodeID}: ${problem}`;
			return;
		}
		this.queue = acquireQueue(env.redisUrl, env.namespace);
		registerHealthCheck(this.broker, "build-queue", () => this.queue.ping());
		this.worker = this.queue.work(job => this.process(job), {
			concurrency: env.builds.workerConcurrency,
			timeoutMs: env.builds.jobTimeoutS * 1000,
			lockMs: env.builds.workerLockMs,
			onFinished: (id, data, outcome) => this.finished(id, data, outcome)
		});
		const simulated = this.builder.simulated ? " - SIMULATED ImageBuilder: images are stand-ins, not firmware" : "";
		this.logger.info(
			`builds-worker: ${this.builder.name} builder, ${env.builds.workerConcurrency} job(s) ` +
				`at a time, ${this.queue.kind} queue${simulated}`
		);
	},

	async stopped(this: WorkerThis) {
		const env = fleetEnv(this.broker);
		if (this.worker) {
			// Graceful: stop taking jobs and finish the running ones.
			await this.worker.close();
			this.worker = null;
		}
		if (this.queue) await releaseQueue(env.redisUrl, env.namespace);
	}
});

export default BuildsWorkerService;
