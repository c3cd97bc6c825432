/**
 * The build API's decisions and the in-process queue, through the real modules: the queue cap
 * (529), no builder (503), counted events, first-in first-out positions, the job timeout and a
 * graceful worker stop that finishes the running build.
 */
import { describe, expect, it } from "vitest";
import { postBuild, type BuildApiDeps } from "../../services/builds/build-api";
import { DirSource, ReleaseMetadata } from "../../services/shared/asu/metadata";
import { MemoryBuildQueue } from "../../services/shared/asu/queue";
import type { EventRow } from "../../services/shared/asu/stats";
import { ASU_MIRROR_DIR } from "../../services/shared/paths";

const meta = new ReleaseMetadata(new DirSource(ASU_MIRROR_DIR));
const C7 = { version: "24.10.2", target: "ath79/generic", profile: "tplink,archer-c7-v5" };

function deps(over: Partial<BuildApiDeps> = {}) {
	const rows: EventRow[] = [];
	const d: BuildApiDeps = {
		queue: new MemoryBuildQueue(),
		meta,
		validation: { allowDefaults: false, repositoryAllowList: [] },
		maxQueue: 200,
		buildProblem: async () => null,
		record: r => rows.push(...r),
		...over
	};
	return { d, rows };
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe("POST /api/v1/build decisions", () => {
	it("queues FIFO, joins duplicates, caps the queue with 529 and counts as upstream", async () => {
		const { d, rows } = deps({ maxQueue: 2 });
		const answers = [];
		for (const p of ["a1", "a2", "a3"]) answers.push(await postBuild(d, { ...C7, packages: ["tmux", p] }, {}));
		expect(answers.map(a => (a.body as any).queue_position)).toEqual([0, 1, 2]);
		expect(answers[2].headers).toEqual({ "X-Imagebuilder-Status": "queued", "X-Queue-Position": "2" });
		const dup = await postBuild(d, { ...C7, packages: ["a1", "tmux"] }, {});
		expect((dup.body as any).request_hash).toBe((answers[0].body as any).request_hash);
		const over = await postBuild(d, { ...C7, packages: ["a4"] }, {});
		expect(over.status).toBe(529);
		expect(over.body).toEqual({
			status: 529,
			title: "Server overloaded",
			detail: "server overload, queue contains too many build requests: 3"
		});
		expect(rows.filter(r => r.event === "requests")).toHaveLength(5);
		expect(rows.filter(r => r.event === "cache-misses")).toHaveLength(4);
		expect(rows.filter(r => r.event === "cache-hits")).toHaveLength(0);
	});

	it("answers 503 with the reason when nothing can build, 422 before counting", async () => {
		const { d, rows } = deps({ buildProblem: async () => "no builds-worker node is running" });
		const r = await postBuild(d, C7, { userAgent: "auc (0.3.2)" });
		expect(r).toEqual({
			status: 503,
			body: {
				detail: "Firmware builds are not available on this server: no builds-worker node is running",
				status: 503
			}
		});
		expect(rows[0].client).toBe("auc/0.3.2");
		expect((await postBuild(d, { ...C7, rootfs_size_mb: 0 }, {})).status).toBe(422);
		expect(rows).toHaveLength(2);
	});
});

describe("in-process queue", () => {
	const data = { request: "{}", resultTtlS: 60, failureTtlS: 60, client: "t" };

	it("kills a build past its timeout and keeps the failure", async () => {
		const q = new MemoryBuildQueue();
		const w = q.work(
			job =>
				new Promise((_, reject) => {
					job.signal.addEventListener("abort", () => reject(job.signal.reason));
				}),
			{ concurrency: 1, timeoutMs: 1000, lockMs: 1000 }
		);
		await q.add("a".repeat(64), data);
		await sleep(1300);
		const job = await q.get("a".repeat(64));
		expect(job?.state).toBe("failed");
		expect(job?.failedReason).toBe("Error: build timed out after 1 s");
		await w.close();
	});

	it("a stopping worker finishes the build it runs and takes no more", async () => {
		const q = new MemoryBuildQueue();
		const w = q.work(async job => (await sleep(300), { id: job.id }), {
			concurrency: 1,
			timeoutMs: 10_000,
			lockMs: 1000
		});
		await q.add("b".repeat(64), data);
		await q.add("c".repeat(64), data);
		await sleep(50);
		expect((await q.get("b".repeat(64)))?.state).toBe("started");
		await w.close();
		expect((await q.get("b".repeat(64)))?.state).toBe("done");
		expect((await q.get("c".repeat(64)))?.state).toBe("queued");
	});

	it("forgets a result past its TTL when it is read", async () => {
		const q = new MemoryBuildQueue();
		const w = q.work(async () => ({}), { concurrency: 1, timeoutMs: 1000, lockMs: 1000 });
		await q.add("d".repeat(64), { ...data, resultTtlS: 0 });
		await sleep(30);
		expect(await q.get("d".repeat(64))).toBeNull();
		await w.close();
	});
});

describe("store sweep", () => {
	it("removes the images of builds whose job is gone, keeps current and recent ones", async () => {
		const { sweepStore } = await import("../../services/builds/store");
		const fs = await import("node:fs");
		const path = await import("node:path");
		const os = await import("node:os");
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "asu-sweep-"));
		const q = new MemoryBuildQueue();
		await q.add("1".repeat(64), { request: "{}", resultTtlS: 60, failureTtlS: 60, client: "t" });
		for (const h of ["1", "2", "3"]) fs.mkdirSync(path.join(dir, h.repeat(64)));
		fs.mkdirSync(path.join(dir, "not-a-hash"));
		const old = Date.now() / 1000 - 7200;
		for (const h of ["1", "2"]) fs.utimesSync(path.join(dir, h.repeat(64)), old, old);
		expect(await sweepStore(dir, q)).toBe(1);
		expect(fs.readdirSync(dir).sort()).toEqual(["1".repeat(64), "3".repeat(64), "not-a-hash"]);
		fs.rmSync(dir, { recursive: true, force: true });
	});
});
