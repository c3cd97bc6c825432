/**
 * The build queue behind one interface: BullMQ on Redis (REDIS_URL) for any number of API
 * and worker nodes, or an in-process queue for a single node without Redis.
 *
 * Semantics kept from upstream (RQ): the job id is the request hash, so an identical request
 * joins the job already queued, running or done; queue position counts the jobs ahead;
 * progress carries `imagebuilder_status`; results and failures expire after their TTL. BullMQ
 * removes old jobs lazily (when another job finishes), so the TTL is also checked on every read.
 */
import type { Job, Queue, Worker } from "bullmq";
import type IORedis from "ioredis";
import type { BuildJobData, BuildMeta, JobState, JobView } from "../contracts/builds";
import { errorMessage } from "../error-message";

type BullMQ = typeof import("bullmq");
type IORedisClass = typeof import("ioredis").default;
/** Loaded on first use: a node without Redis never pays for BullMQ (about 200 ms at start). */
function bullmq(): { mq: BullMQ; Redis: IORedisClass } {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	return { mq: require("bullmq") as BullMQ, Redis: (require("ioredis") as { default: IORedisClass }).default };
}

export const QUEUE_NAME = "asu-builds";

export interface JobContext {
	id: string;
	data: BuildJobData;
	/** Aborted on job timeout and on a forced worker stop: the builder kills what it runs. */
	signal: AbortSignal;
	setMeta(meta: Partial<BuildMeta>): Promise<void>;
}

export type JobProcessor = (job: JobContext) => Promise<Record<string, unknown>>;

export interface WorkerOptions {
	concurrency: number;
	/** The build is aborted after this long (upstream job_timeout, 10 min). */
	timeoutMs: number;
	/** BullMQ: a job whose lock is not renewed for this long is retaken by another worker. */
	lockMs: number;
	/** Called when a job finishes, for statistics and metrics. */
	onFinished?(
		id: string,
		data: BuildJobData,
		outcome:
			| { ok: true; result: Record<string, unknown>; ms: number }
			| { ok: false; error: string; ms: number; meta?: Partial<BuildMeta> }
	): void;
}

export interface BuildWorker {
	close(force?: boolean): Promise<void>;
}

export interface BuildQueue {
	readonly kind: "bullmq" | "in-process";
	/** Enqueues unless a job with this id exists; either way answers the job as it is now. */
	add(id: string, data: BuildJobData): Promise<{ job: JobView; created: boolean }>;
	/** The job, or null when unknown or past its TTL. */
	get(id: string): Promise<JobView | null>;
	/** Jobs waiting to be built (upstream len(queue)). */
	waiting(): Promise<number>;
	/** Jobs being built right now. */
	active(): Promise<number>;
	/** Runs jobs of this queue on this node. */
	work(processor: JobProcessor, opts: WorkerOptions): BuildWorker;
	/** Readiness: Redis answers. */
	ping(): Promise<string>;
	/** Waits (at most `ms`) for the backend to be reachable. */
	ready?(ms: number): Promise<void>;
	close(): Promise<void>;
}

/** A build failure: the detail clients show ("Error: …"), the builder's output kept with it. */
export class BuildFailure extends Error {
	constructor(
		message: string,
		readonly stdout = "",
		readonly stderr = ""
	) {
		super(message);
		this.name = "BuildFailure";
	}
}

function expired(finishedAt: number | undefined, ttlS: number, now = Date.now()): boolean {
	return finishedAt != null && finishedAt + ttlS * 1000 < now;
}

function withTimeout(
	signal: AbortSignal | undefined,
	ms: number
): { signal: AbortSignal; timedOut: () => boolean; clear(): void } {
	const ctrl = new AbortController();
	let timedOut = false;
	const timer = setTimeout(() => {
		timedOut = true;
		ctrl.abort(new Error(`build timed out after ${Math.round(ms / 1000)} s`));
	}, ms);
	const onAbort = () => ctrl.abort(signal?.reason);
	signal?.addEventListener("abort", onAbort, { once: true });
	return {
		signal: ctrl.signal,
		timedOut: () => timedOut,
		clear() {
			clearTimeout(timer);
			signal?.removeEventListener("abort", onAbort);
		}
	};
}

// ---- BullMQ ------------------------------------------------------------------------------

export class BullBuildQueue implements BuildQueue {
	readonly kind = "bullmq" as const;
	private readonly connection: IORedis;
	private readonly queue: Queue<BuildJobData>;
	private readonly workers = new Set<Worker>();

	constructor(
		private readonly redisUrl: string,
		private readonly prefix: string
	) {
		const { mq, Redis } = bullmq();
		// The API's connection fails fast while Redis is away (the request answers 503) instead of
		// queueing commands until it returns; workers keep BullMQ's endless retries on their own.
		this.connection = new Redis(redisUrl, {
			maxRetriesPerRequest: 1,
			enableOfflineQueue: false,
			connectTimeout: 2000
		});
		this.connection.on("error", () => undefined);
		this.queue = new mq.Queue<BuildJobData>(QUEUE_NAME, { connection: this.connection, prefix });
		this.queue.on("error", () => undefined);
	}

	private async view(job: Job<BuildJobData>): Promise<JobView | null> {
		const state = await job.getState();
		const data = job.data;
		const finishedAt = job.finishedOn ?? undefined;
		const base = {
			id: job.id!,
			meta: (typeof job.progress === "object" ? job.progress : {}) as Partial<BuildMeta>,
			enqueuedAt: job.timestamp,
			finishedAt
		};
		let s: JobState;
		if (state === "completed") {
			if (expired(finishedAt, data.resultTtlS)) return this.expire(job);
			return { ...base, state: "done", position: 0, result: job.returnvalue as Record<string, unknown> };
		}
		if (state === "failed") {
			if (expired(finishedAt, data.failureTtlS)) return this.expire(job);
			return { ...base, state: "failed", position: 0, failedReason: job.failedReason };
		}
		if (state === "active") s = "started";
		else if (state === "unknown") return null;
		else s = "queued";
		return { ...base, state: s, position: s === "queued" ? await this.position(job.id!) : 0 };
	}

	private async expire(job: Job<BuildJobData>): Promise<null> {
		await job.remove().catch(() => undefined);
		return null;
	}

	/** Jobs ahead: new jobs are pushed on the left of the wait list, workers take from the right. */
	private async position(id: string): Promise<number> {
		const key = `${this.prefix}:${QUEUE_NAME}:wait`;
		const [[, index], [, length]] = (await this.connection.multi().lpos(key, id).llen(key).exec()) as [
			[unknown, number | null],
			[unknown, number]
		];
		return index == null ? 0 : Math.max(0, length - 1 - index);
	}

	/** Resolves once Redis answers, or after `ms` (the node starts either way; requests then answer 503). */
	async ready(ms: number): Promise<void> {
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([
			this.queue.waitUntilReady().catch(() => undefined),
			new Promise(r => (timer = setTimeout(r, ms)))
		]);
		clearTimeout(timer);
	}

	async get(id: string): Promise<JobView | null> {
		const job = await this.queue.getJob(id);
		return job ? this.view(job) : null;
	}

	async add(id: string, data: BuildJobData): Promise<{ job: JobView; created: boolean }> {
		const existing = await this.get(id);
		if (existing) return { job: existing, created: false };
		await this.queue.add("build", data, {
			jobId: id,
			attempts: 1,
			// BullMQ's own clean-up (lazy); the TTL is enforced on read as well.
			removeOnComplete: { age: data.resultTtlS },
			removeOnFail: { age: data.failureTtlS }
		});
		// Another API node may have added it first: what counts is the job in Redis.
		const job = await this.get(id);
		if (!job) throw new Error(`job ${id} vanished right after it was queued`);
		return { job, created: true };
	}

	waiting(): Promise<number> {
		return this.queue.getWaitingCount();
	}

	active(): Promise<number> {
		return this.queue.getActiveCount();
	}

	async ping(): Promise<string> {
		await this.connection.ping();
		return "bullmq";
	}

	work(processor: JobProcessor, opts: WorkerOptions): BuildWorker {
		const { mq, Redis } = bullmq();
		const worker: Worker<BuildJobData> = new mq.Worker<BuildJobData>(
			QUEUE_NAME,
			async (job, _token, signal) => {
				const started = Date.now();
				const t = withTimeout(signal, opts.timeoutMs);
				let meta: Partial<BuildMeta> = {};
				try {
					const result = await processor({
						id: job.id!,
						data: job.data,
						signal: t.signal,
						setMeta: async m => {
							meta = { ...meta, ...m };
							await job.updateProgress(meta);
						}
					});
					opts.onFinished?.(job.id!, job.data, { ok: true, result, ms: Date.now() - started });
					return result;
				} catch (err) {
					const message = t.timedOut()
						? `Error: build timed out after ${Math.round(opts.timeoutMs / 1000)} s`
						: errorMessage(err);
					opts.onFinished?.(job.id!, job.data, { ok: false, error: message, ms: Date.now() - started, meta });
					// Never retried: a failed build is an answer (kept 1 h), not a transient fault.
					throw new mq.UnrecoverableError(message);
				} finally {
					t.clear();
				}
			},
			{
				connection: new Redis(this.redisUrl, { maxRetriesPerRequest: null }),
				prefix: this.prefix,
				concurrency: opts.concurrency,
				lockDuration: opts.lockMs,
				stalledInterval: opts.lockMs,
				maxStalledCount: 1
			}
		);
		worker.on("error", () => undefined);
		this.workers.add(worker);
		return {
			close: async (force = false) => {
				this.workers.delete(worker);
				await worker.close(force);
				await (worker as unknown as { connection?: { close(): Promise<void> } }).connection
					?.close?.()
					.catch(() => undefined);
			}
		};
	}

	async close(): Promise<void> {
		for (const w of [...this.workers]) await w.close().catch(() => undefined);
		await this.queue.close().catch(() => undefined);
		this.connection.disconnect();
	}
}

// ---- in-process --------------------------------------------------------------------------

interface MemoryJob {
	view: JobView;
	data: BuildJobData;
}

/** The same semantics in one process, for a node without Redis. Jobs are lost on restart. */
export class MemoryBuildQueue implements BuildQueue {
	readonly kind = "in-process" as const;
	private readonly jobs = new Map<string, MemoryJob>();
	private readonly wait: string[] = [];
	private readonly processors: Array<{
		processor: JobProcessor;
		opts: WorkerOptions;
		running: number;
		closed: boolean;
		idle: Array<() => void>;
		ctrls: Set<AbortController>;
	}> = [];

	async get(id: string): Promise<JobView | null> {
		const j = this.jobs.get(id);
		if (!j) return null;
		const v = j.view;
		if (
			(v.state === "done" && expired(v.finishedAt, j.data.resultTtlS)) ||
			(v.state === "failed" && expired(v.finishedAt, j.data.failureTtlS))
		) {
			this.jobs.delete(id);
			return null;
		}
		return { ...v, meta: { ...v.meta }, position: v.state === "queued" ? this.wait.indexOf(id) : 0 };
	}

	async add(id: string, data: BuildJobData): Promise<{ job: JobView; created: boolean }> {
		const existing = await this.get(id);
		if (existing) return { job: existing, created: false };
		this.jobs.set(id, { data, view: { id, state: "queued", position: 0, meta: {}, enqueuedAt: Date.now() } });
		this.wait.push(id);
		const job = (await this.get(id))!;
		queueMicrotask(() => this.pump());
		return { job, created: true };
	}

	async waiting(): Promise<number> {
		return this.wait.length;
	}

	async active(): Promise<number> {
		return [...this.jobs.values()].filter(j => j.view.state === "started").length;
	}

	async ping(): Promise<string> {
		return "in-process";
	}

	private pump(): void {
		for (const p of this.processors) {
			while (!p.closed && p.running < p.opts.concurrency && this.wait.length) {
				const id = this.wait.shift()!;
				const job = this.jobs.get(id);
				if (!job) continue;
				p.running++;
				void this.run(p, id, job).finally(() => {
					p.running--;
					if (p.running === 0) for (const r of p.idle.splice(0)) r();
					this.pump();
				});
			}
		}
	}

	private async run(p: (typeof this.processors)[number], id: string, job: MemoryJob): Promise<void> {
		const started = Date.now();
		const ctrl = new AbortController();
		p.ctrls.add(ctrl);
		const t = withTimeout(ctrl.signal, p.opts.timeoutMs);
		job.view.state = "started";
		try {
			const result = await p.processor({
				id,
				data: job.data,
				signal: t.signal,
				setMeta: async m => {
					job.view.meta = { ...job.view.meta, ...m };
				}
			});
			Object.assign(job.view, { state: "done", result, finishedAt: Date.now() });
			p.opts.onFinished?.(id, job.data, { ok: true, result, ms: Date.now() - started });
		} catch (err) {
			const message = t.timedOut()
				? `Error: build timed out after ${Math.round(p.opts.timeoutMs / 1000)} s`
				: errorMessage(err);
			Object.assign(job.view, { state: "failed", failedReason: message, finishedAt: Date.now() });
			p.opts.onFinished?.(id, job.data, {
				ok: false,
				error: message,
				ms: Date.now() - started,
				meta: job.view.meta
			});
		} finally {
			t.clear();
			p.ctrls.delete(ctrl);
		}
	}

	work(processor: JobProcessor, opts: WorkerOptions): BuildWorker {
		const p = {
			processor,
			opts,
			running: 0,
			closed: false,
			idle: [] as Array<() => void>,
			ctrls: new Set<AbortController>()
		};
		this.processors.push(p);
		queueMicrotask(() => this.pump());
		return {
			close: async (force = false) => {
				p.closed = true;
				this.processors.splice(this.processors.indexOf(p), 1);
				if (force) for (const c of p.ctrls) c.abort(new Error("worker stopped"));
				if (p.running > 0) await new Promise<void>(r => p.idle.push(r));
			}
		};
	}

	async close(): Promise<void> {
		for (const p of [...this.processors]) p.closed = true;
	}
}

// ---- one queue per process and target -----------------------------------------------------

const shared = new Map<string, { queue: BuildQueue; users: number }>();

/** The queue of this environment, shared by the builds and builds-worker services of a process. */
export function acquireQueue(redisUrl: string | null, namespace: string): BuildQueue {
	const key = `${redisUrl ?? "memory"}|${namespace}`;
	let entry = shared.get(key);
	if (!entry) {
		// Keys start with the namespace: tests and several meshes on one Redis stay apart.
		const queue = redisUrl ? new BullBuildQueue(redisUrl, `${namespace}-bull`) : new MemoryBuildQueue();
		shared.set(key, (entry = { queue, users: 0 }));
	}
	entry.users++;
	return entry.queue;
}

export async function releaseQueue(redisUrl: string | null, namespace: string): Promise<void> {
	const key = `${redisUrl ?? "memory"}|${namespace}`;
	const entry = shared.get(key);
	if (!entry || --entry.users > 0) return;
	shared.delete(key);
	await entry.queue.close();
}
