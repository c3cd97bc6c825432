/**
 * builds: the OpenWrt ASU-compatible build API (what owut, LuCI's attended-sysupgrade app and
 * auc talk to): build requests and their status, statistics, release metadata under
 * /json/v1/, the metadata mirror under /upstream/ and built images under /store/. Builds run
 * on builds-worker nodes through the queue (BullMQ on Redis, or in-process without Redis).
 *
 * The gateway's ASU route (services/gateway/asu-routes.ts) maps the paths to these actions;
 * every answer is an ASU body, written by `reply` with its status code and headers.
 */
import fs from "node:fs";
import type { Context, Service } from "moleculer";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { registerHealthCheck } from "../../mixins/health";
import { BUILD_METRICS, registerBuildMetrics } from "../shared/asu/metrics";
import { versionPath, type ReleaseMetadata } from "../shared/asu/metadata";
import { stringifyOrdered } from "../shared/asu/ordered-json";
import { acquireQueue, releaseQueue, type BuildQueue } from "../shared/asu/queue";
import { metadataFor } from "../shared/asu/sources";
import * as stats from "../shared/asu/stats";
import { fleetEnv } from "../shared/broker-env";
import type { AsuAnswer } from "../shared/contracts/builds";
import type { FleetEnv } from "../shared/env";
import { detailAnswer, jobAnswer, NOT_FOUND } from "./answers";
import { postBuild, type BuildApiDeps } from "./build-api";
import { jsonRoute, type ServerInfo } from "./json-routes";
import { storeFile, sweepStore } from "./store";
import { defineService } from "../shared/define-service";
import { errorMessage } from "../shared/error-message";
import { BuildsOverview } from "../shared/contracts/api";

const HASH = /^[0-9a-f]{64}$/;
const SERVER_VERSION = "fleetmesh-0.1.0";

/** What the gateway's ASU route puts in ctx.meta for these actions. */
export interface AsuMeta {
	asuMethod?: string;
	asuPath?: string;
	asuUserAgent?: string;
	/** "http://host:port" as the client reached us. */
	asuBase?: string;
	$statusCode?: number;
	$responseType?: string;
	$responseHeaders?: Record<string, string | number>;
	$location?: string;
}
type Ctx<P = Record<string, unknown>> = Context<P, AsuMeta>;
type HttpParams = { body?: unknown; query?: Record<string, string>; params?: Record<string, string | string[]> };

/** What builds-worker.state answers. */
interface WorkerState {
	nodeID: string;
	builder: string | null;
	ready: boolean;
	simulated: boolean;
	problem: string | null;
}

type BuildsThis = Service &
	BuildApiDeps & {
		env: FleetEnv;
		db: Database;
		queue: BuildQueue;
		meta: ReleaseMetadata;
		pending: stats.EventRow[];
		flushTimer: NodeJS.Timeout | null;
		gaugeTimer: NodeJS.Timeout | null;
		sweepTimer: NodeJS.Timeout | null;
		hits: number;
		misses: number;
		workerState: { at: number; problem: Promise<string | null> } | null;
		reply(ctx: Ctx, a: AsuAnswer): string;
		unavailable(fn: () => Promise<AsuAnswer>): Promise<AsuAnswer>;
		statsViewOf(ctx: Ctx<HttpParams>): Promise<string>;
		record(rows: stats.EventRow[]): void;
		flush(): Promise<void>;
		buildProblem(): Promise<string | null>;
		serverInfo(ctx: Ctx): ServerInfo;
		workersSimulated(): Promise<boolean>;
	};

/** The path of a `:path*` alias parameter (moleculer-web splits it on "/"). */
function restPath(p: HttpParams): string {
	const v = p.params?.path;
	return Array.isArray(v) ? v.join("/") : String(v ?? "");
}

const publicAction = { auth: "public", visibility: "published" } as const;

const BuildsService = defineService<BuildsThis>({
	name: "builds",
	mixins: [DbMixin],

	actions: {
		build: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				const prepared = ctx.params.query?.skip_package_resolution === "true";
				return this.reply(
					ctx,
					await this.unavailable(() =>
						postBuild(this, ctx.params.body, { userAgent: ctx.meta.asuUserAgent, prepared })
					)
				);
			}
		},

		status: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				const hash = String(ctx.params.params?.hash ?? "");
				return this.reply(
					ctx,
					await this.unavailable(async () => {
						const job = HASH.test(hash) ? await this.queue.get(hash) : null;
						return job ? jobAnswer(job) : NOT_FOUND;
					})
				);
			}
		},

		methodNotAllowed: {
			...publicAction,
			handler(this: BuildsThis, ctx: Ctx) {
				ctx.meta.$responseHeaders = { Allow: "GET, HEAD" };
				return this.reply(ctx, { status: 405, body: { detail: "Method Not Allowed" } });
			}
		},

		/** Is a build of this hash finished (for builds-prepare's cache_available)? */
		cached: {
			visibility: "public",
			params: { hash: { type: "string", pattern: HASH } },
			async handler(this: BuildsThis, ctx: Context<{ hash: string }>) {
				const job = await this.queue.get(ctx.params.hash);
				return { available: job?.state === "done", jobId: job?.state === "done" ? job.id : null };
			}
		},

		stats: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx) {
				return this.reply(
					ctx,
					await this.unavailable(async () => ({
						status: 200,
						body: { queue_length: await this.queue.waiting() }
					}))
				);
			}
		},

		statsView: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				try {
					return await this.statsViewOf(ctx);
				} catch (err) {
					this.logger.warn(`builds: statistics: ${errorMessage(err)}`);
					return this.reply(
						ctx,
						detailAnswer(503, "Statistics are not available right now; try again later")
					);
				}
			}
		},

		revision: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				const { version, target, subtarget } = ctx.params.params ?? {};
				if (!versionPath(String(version)))
					return this.reply(ctx, detailAnswer(400, `Unsupported version: ${version}`));
				const pj = await this.meta.profilesJson(String(version), `${target}/${subtarget}`).catch(() => null);
				if (!pj)
					return this.reply(
						ctx,
						detailAnswer(404, `Failed to fetch revision for ${version}/${target}/${subtarget}`)
					);
				return this.reply(ctx, { status: 200, body: { revision: pj.version_code } });
			}
		},

		redirect: {
			...publicAction,
			handler(this: BuildsThis, ctx: Ctx) {
				const p = (ctx.meta.asuPath ?? "/").split("?")[0];
				const to =
					p === "/api/v1/latest"
						? "/json/v1/latest.json"
						: p.startsWith("//")
							? p.replace(/^\/+/, "/")
							: "/json/v1/overview.json";
				ctx.meta.$statusCode = 301;
				ctx.meta.$location = to;
				return null;
			}
		},

		json: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				return this.reply(ctx, await jsonRoute(this.meta, restPath(ctx.params), this.serverInfo(ctx)));
			}
		},

		upstream: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				const data = await this.meta.source.read(restPath(ctx.params)).catch(() => null);
				if (!data) return this.reply(ctx, { status: 404, body: { detail: "Not Found" } });
				ctx.meta.$responseType = /\.json$/.test(restPath(ctx.params))
					? "application/json"
					: "application/octet-stream";
				return data;
			}
		},

		store: {
			...publicAction,
			async handler(this: BuildsThis, ctx: Ctx<HttpParams>) {
				const rel = restPath(ctx.params);
				const file = await storeFile(this.env.builds.storeDir, rel);
				if (!file) return this.reply(ctx, { status: 404, body: { detail: "Not found" } });
				ctx.meta.$responseType = "application/octet-stream";
				const fileName = encodeURIComponent(rel.split("/").pop() ?? "image");
				ctx.meta.$responseHeaders = {
					"Content-Length": String(file.size),
					"X-Content-Type-Options": "nosniff",
					"Content-Disposition": `attachment; filename="${fileName}"`
				};
				if (ctx.meta.asuMethod === "HEAD") return null;
				return fs.createReadStream(file.path);
			}
		},

		/** The dashboard's Builds view: queue, builder, recent builds with their images. */
		recent: {
			rest: "GET /recent",
			auth: "user",
			answer: BuildsOverview,
			params: { limit: { type: "number", integer: true, min: 1, max: 200, optional: true, convert: true } },
			async handler(this: BuildsThis, ctx: Context<{ limit?: number }>): Promise<BuildsOverview> {
				return {
					queue: {
						kind: this.queue.kind,
						waiting: await this.queue.waiting(),
						active: await this.queue.active()
					},
					builder: this.env.builds.builder,
					simulated: await this.workersSimulated(),
					problem: await this.buildProblem(),
					items: await stats.recentBuilds(this.db, ctx.params.limit ?? 20),
					counts: stats.toBuildCounts(await stats.counts(this.db)),
					perDay: await stats.buildsPerDay(this.db)
				};
			}
		}
	},

	methods: {
		/**
		 * Runs `fn`; the queue (Redis) or the statistics (PostgreSQL) being unreachable is a 503 with a detail, not a
		 * 500.
		 */
		async unavailable(this: BuildsThis, fn: () => Promise<AsuAnswer>): Promise<AsuAnswer> {
			try {
				return await fn();
			} catch (err) {
				this.logger.warn(`builds: ${errorMessage(err)}`);
				return detailAnswer(
					503,
					`The build queue is not reachable right now ` +
						`(${this.queue.kind === "bullmq" ? "Redis" : "in-process"}); try again later`
				);
			}
		},

		/** One of upstream's statistics views, chosen by the path. */
		async statsViewOf(this: BuildsThis, ctx: Ctx<HttpParams>): Promise<string> {
			const q = ctx.params.query ?? {};
			const view = (ctx.meta.asuPath ?? "").replace(/^\/api\/v1\//, "").split("?")[0];
			const branch = q.branch ? String(q.branch) : null;
			const n = (max: number, dflt: number) =>
				Math.max(1, Math.min(max, Number.parseInt(String(q.n ?? dflt), 10) || dflt));
			if (view === "stats/summary")
				return this.reply(ctx, {
					status: 200,
					body: { queue_length: await this.queue.waiting(), ...(await stats.summary(this.db)) }
				});
			if (view === "builds-per-day")
				return this.reply(ctx, { status: 200, body: await stats.buildsPerDay(this.db) });
			if (view === "builds-by-version")
				return this.reply(ctx, { status: 200, body: await stats.buildsByVersion(this.db, branch) });
			if (view === "top-packages")
				return this.reply(ctx, { status: 200, body: await stats.topPackages(this.db, branch, n(100, 30)) });
			if (view === "build-errors") {
				ctx.meta.$statusCode = 200;
				ctx.meta.$responseType = "text/plain; charset=utf-8";
				return await stats.buildErrors(this.db, n(500, 100));
			}
			return this.reply(ctx, { status: 404, body: { detail: "Not Found" } });
		},

		/** Writes an ASU answer: status code, headers and the body as ordered JSON (key order kept). */
		reply(this: BuildsThis, ctx: Ctx, a: AsuAnswer): string {
			ctx.meta.$statusCode = a.status;
			ctx.meta.$responseType = "application/json";
			if (a.headers) ctx.meta.$responseHeaders = { ...(ctx.meta.$responseHeaders ?? {}), ...a.headers };
			return stringifyOrdered(a.body);
		},

		record(this: BuildsThis, rows: stats.EventRow[]) {
			for (const r of rows) {
				if (r.event === "requests") this.broker.metrics?.increment(BUILD_METRICS.requests);
				if (r.event === "cache-hits") {
					this.hits++;
					this.broker.metrics?.increment(BUILD_METRICS.cacheHits);
				}
				if (r.event === "cache-misses") {
					this.misses++;
					this.broker.metrics?.increment(BUILD_METRICS.cacheMisses);
				}
			}
			if (this.hits + this.misses > 0)
				this.broker.metrics?.set(BUILD_METRICS.cacheHitRatio, this.hits / (this.hits + this.misses));
			// Counted in batches: a cache hit must not wait for an INSERT.
			this.pending.push(...rows);
			if (this.pending.length >= 500) void this.flush();
			else this.flushTimer ??= setTimeout(() => void this.flush(), 200);
		},

		async flush(this: BuildsThis) {
			if (this.flushTimer) clearTimeout(this.flushTimer);
			this.flushTimer = null;
			const rows = this.pending.splice(0);
			if (!rows.length || !this.db) return;
			await stats
				.recordEvents(this.db, rows)
				.catch(err =>
					this.logger.warn(`build statistics not recorded (${rows.length} events): ${errorMessage(err)}`)
				);
		},

		/** Why nothing can build right now, or null; asked of the workers at most every 5 s. */
		buildProblem(this: BuildsThis): Promise<string | null> {
			if (!this.env.builds.builder)
				return Promise.resolve("no builder is configured (set ASU_BUILDER=podman, local or simulated)");
			const now = Date.now();
			if (this.workerState && now - this.workerState.at < 5000) return this.workerState.problem;
			const problem = (async () => {
				const registry = this.broker.registry;
				// A worker node that is joining the mesh right now is waited for a moment.
				if (!registry.getActionEndpoints("builds-worker.state")?.endpoints.length)
					await this.broker.waitForServices("builds-worker", 1500).catch(() => undefined);
				const endpoints = registry.getActionEndpoints("builds-worker.state")?.endpoints ?? [];
				// Without Redis the queue lives in this process: only a local worker can take its jobs.
				const usable = this.queue.kind === "in-process" ? endpoints.filter(e => e.local) : endpoints;
				if (!usable.length)
					return this.queue.kind === "in-process"
						? "no builds-worker runs on this node (without REDIS_URL the queue is in-process)"
						: "no builds-worker node is running";
				const states = await Promise.all(
					usable.map(e =>
						this.broker
							.call<WorkerState, Record<string, never>>(
								"builds-worker.state",
								{},
								{ nodeID: e.id, timeout: 2000, retries: 0 }
							)
							.catch(() => null)
					)
				);
				if (states.some(s => s?.ready)) return null;
				return states.find(s => s?.problem)?.problem ?? "no builds-worker is ready";
			})();
			// Only a good answer is kept: a worker that just joined is used at once.
			this.workerState = { at: now, problem };
			void problem.then(p => {
				if (p && this.workerState?.problem === problem) this.workerState = null;
			});
			return problem;
		},

		async workersSimulated(this: BuildsThis): Promise<boolean> {
			if (this.env.builds.builder === "simulated") return true;
			const s = await this.broker
				.call<WorkerState, Record<string, never>>("builds-worker.state", {}, { timeout: 2000, retries: 0 })
				.catch(() => null);
			return !!s?.simulated;
		},

		serverInfo(this: BuildsThis, ctx: Ctx): ServerInfo {
			return {
				version: SERVER_VERSION,
				contact: "",
				allowDefaults: this.env.builds.allowDefaults,
				repositoryAllowList: this.env.builds.repositoryAllowList,
				upstreamUrl: this.env.builds.upstreamUrl ?? `${ctx.meta.asuBase ?? ""}/upstream`
			};
		}
	},

	created(this: BuildsThis) {
		this.env = fleetEnv(this.broker);
		this.meta = metadataFor(this.env.builds);
		this.pending = [];
		this.flushTimer = null;
		this.gaugeTimer = null;
		this.sweepTimer = null;
		this.hits = 0;
		this.misses = 0;
		this.workerState = null;
		registerBuildMetrics(this.broker);
	},

	async started(this: BuildsThis) {
		const env = this.env;
		this.queue = acquireQueue(env.redisUrl, env.namespace);
		await this.queue.ready?.(5000);
		registerHealthCheck(this.broker, "build-queue", () => this.queue.ping());
		// `postBuild` reads these off the service.
		Object.assign(this, {
			validation: {
				allowDefaults: env.builds.allowDefaults,
				repositoryAllowList: env.builds.repositoryAllowList
			},
			maxQueue: env.builds.maxQueue
		});
		if (this.queue.kind === "in-process")
			this.logger.warn(
				"builds: no REDIS_URL - the build queue runs in-process on this node (jobs are lost on " +
					"restart; only this node's builds-worker builds)"
			);
		else this.logger.info("builds: build queue on BullMQ (Redis)");
		const builder = env.builds.builder;
		this.logger.info(
			`builds: release metadata from ${this.meta.source.describe}; builder ` +
				(builder ?? "none (builds answer 503)") +
				(builder === "simulated" ? " - SIMULATED: images are stand-ins, not firmware" : "")
		);
		this.gaugeTimer = setInterval(() => {
			void Promise.all([this.queue.waiting(), this.queue.active()]).then(
				([w, a]) => {
					this.broker.metrics?.set(BUILD_METRICS.queueLength, w);
					this.broker.metrics?.set(BUILD_METRICS.activeBuilds, a);
				},
				() => undefined
			);
		}, 5000);
		this.gaugeTimer.unref();
		// Images of builds that expired (their job is gone) are removed from the store.
		this.sweepTimer = setInterval(() => {
			void sweepStore(env.builds.storeDir, this.queue).then(
				n => n && this.logger.info(`builds: removed ${n} expired build(s) from the store`),
				err => this.logger.warn(`builds: store sweep failed: ${errorMessage(err)}`)
			);
		}, 15 * 60_000);
		this.sweepTimer.unref();
	},

	async stopped(this: BuildsThis) {
		if (this.gaugeTimer) clearInterval(this.gaugeTimer);
		if (this.sweepTimer) clearInterval(this.sweepTimer);
		await this.flush();
		await releaseQueue(this.env.redisUrl, this.env.namespace);
	}
});

export default BuildsService;
