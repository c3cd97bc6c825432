/**
 * POST /api/v1/build in upstream's order (asu/routers/api.py api_v1_build_post): sanitize
 * and hash, count the request, join an existing job (no validation then), else validate,
 * check that something can build, cap the queue, enqueue.
 */
import { requestHash } from "../shared/asu/hash";
import type { ReleaseMetadata } from "../shared/asu/metadata";
import { stringifyOrdered } from "../shared/asu/ordered-json";
import type { BuildQueue } from "../shared/asu/queue";
import { clientOf, parseBuildRequest, resultTtlS } from "../shared/asu/request";
import type { EventRow } from "../shared/asu/stats";
import { validateRequest, type ValidationOptions } from "../shared/asu/validate";
import { TTL, type AsuAnswer } from "../shared/contracts/builds";
import { detailAnswer, jobAnswer } from "./answers";

export interface BuildApiDeps {
	queue: BuildQueue;
	meta: ReleaseMetadata;
	validation: ValidationOptions;
	maxQueue: number;
	/** null when a worker can build, else why not (503). */
	buildProblem(): Promise<string | null>;
	record(rows: EventRow[]): void;
}

export async function postBuild(
	d: BuildApiDeps,
	body: unknown,
	o: { userAgent?: string; prepared?: boolean }
): Promise<AsuAnswer> {
	const parsed = parseBuildRequest(body);
	if (!parsed.ok) return { status: 422, body: { detail: parsed.detail } };
	const req = parsed.request;
	const hash = requestHash(req);
	const client = clientOf(req, o.userAgent);
	const who = { requestHash: hash, client, version: req.version, target: req.target, profile: req.profile };
	const existing = await d.queue.get(hash);
	if (existing) {
		d.record([
			{ event: "requests", ...who },
			...(existing.state === "done" ? [{ event: "cache-hits" as const, ...who }] : [])
		]);
		return jobAnswer(existing);
	}
	d.record([
		{ event: "requests", ...who },
		{ event: "cache-misses", ...who }
	]);
	const v = await validateRequest(d.meta, req, d.validation);
	if (!v.ok) return detailAnswer(400, v.detail);
	const problem = await d.buildProblem();
	if (problem) return detailAnswer(503, `Firmware builds are not available on this server: ${problem}`);
	const waiting = await d.queue.waiting();
	if (waiting > d.maxQueue) {
		return {
			status: 529,
			body: {
				status: 529,
				title: "Server overloaded",
				detail: `server overload, queue contains too many build requests: ${waiting}`
			}
		};
	}
	const { job } = await d.queue.add(hash, {
		request: stringifyOrdered(v.request),
		resultTtlS: resultTtlS(v.request, TTL),
		failureTtlS: TTL.failureS,
		client,
		prepared: o.prepared === true
	});
	return jobAnswer(job);
}
