/**
 * The ASU answers for a job (upstream api.py return_job_v1): body `status` mirrors the HTTP
 * code, `X-Imagebuilder-Status` and `X-Queue-Position` headers, `request_hash` always.
 */
import type { AsuAnswer, JobView } from "../shared/contracts/builds";

export function jobAnswer(job: JobView): AsuAnswer {
	const body: Record<string, unknown> = { ...job.meta };
	let ibStatus = "done";
	let position = 0;
	let status: number;
	if (job.state === "failed") {
		status = 500;
		const stderr =
			typeof job.meta.stderr === "string" && job.meta.stderr
				? `${job.meta.stderr}\n${job.failedReason ?? ""}`
				: (job.failedReason ?? "");
		let detail = job.meta.detail ?? job.failedReason ?? "failed";
		if (detail === "init" || !detail.startsWith("Error")) detail = job.failedReason ?? "failed";
		Object.assign(body, { status, detail, stderr, imagebuilder_status: "failed" });
		ibStatus = "failed";
	} else if (job.state === "queued") {
		status = 202;
		position = job.position;
		Object.assign(body, { status, detail: "queued", queue_position: position });
		ibStatus = "queued";
	} else if (job.state === "started") {
		status = 202;
		Object.assign(body, { status, detail: "started" });
		body.imagebuilder_status ??= "init";
		ibStatus = String(body.imagebuilder_status);
	} else {
		status = 200;
		Object.assign(body, { status, ...job.result, imagebuilder_status: "done" });
	}
	body.enqueued_at = new Date(job.enqueuedAt).toISOString();
	body.request_hash = job.id;
	return { status, body, headers: { "X-Imagebuilder-Status": ibStatus, "X-Queue-Position": String(position) } };
}

export const NOT_FOUND: AsuAnswer = {
	status: 404,
	body: { status: 404, title: "Not Found", detail: "could not find provided request hash" }
};

export function detailAnswer(status: number, detail: string, extra: Record<string, unknown> = {}): AsuAnswer {
	return { status, body: { detail, status, ...extra } };
}
