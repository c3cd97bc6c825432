/**
 * The build API end to end in one node, with the real Redis (BullMQ, a queue prefix of this
 * file's own), PostgreSQL (statistics), the gateway and the simulated ImageBuilder.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Queue } from "bullmq";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteRedisKeys } from "../helpers/cleanup";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { REDIS_URL, requireServer } from "../helpers/servers";
import { ALL_BUILDS_SERVICES, asuClient, C7, gatewayUrl } from "./builds-support";

const namespace = uniqueNamespace("builds-api");
let broker: ServiceBroker;
let db: TestDatabase;
let url = "";
const asu = asuClient(() => url);

beforeAll(async () => {
	await requireServer("redis");
	db = await createTestDatabase("builds_api");
	broker = createTestBroker({
		namespace,
		env: {
			REDIS_URL,
			DATABASE_URL: db.url,
			ASU_BUILDER: "simulated",
			ASU_SIM_BUILD_MS: "600",
			ASU_RATE_LIMIT: "0",
			ASU_SIM_IMAGE_KIB: "16"
		},
		services: ALL_BUILDS_SERVICES
	});
	await broker.start();
	url = gatewayUrl(broker);
});

afterAll(async () => {
	await broker?.stop();
	await deleteRedisKeys(namespace);
	await db?.drop();
});

const untilDone = (hash: string) =>
	waitFor(
		async () => {
			const r = await asu("GET", `/api/v1/build/${hash}`);
			return r.status === 200 || r.status === 500 ? r : null;
		},
		20_000,
		`build ${hash}`
	);

describe("builds API (Redis queue, simulated builder)", () => {
	it("queues (202), builds (started) and answers the images (200); the store serves them exactly", async () => {
		const first = await asu("POST", "/api/v1/build", { ...C7, packages: ["tmux"], client: "test/1" });
		expect(first.status).toBe(202);
		expect(first.body.status).toBe(202);
		expect(["queued", "started"]).toContain(first.body.detail);
		expect(first.body.request_hash).toMatch(/^[0-9a-f]{64}$/);
		expect(first.headers.get("x-imagebuilder-status")).toBeTruthy();
		expect(first.headers.get("x-queue-position")).toMatch(/^\d+$/);
		const hash = first.body.request_hash;

		const started = await waitFor(
			async () => {
				const r = await asu("GET", `/api/v1/build/${hash}`);
				return r.body.detail === "started" ? r : null;
			},
			10_000,
			"started"
		);
		expect(started.status).toBe(202);
		expect(["init", "container_setup", "validate_revision", "validate_manifest", "building_image"]).toContain(
			started.body.imagebuilder_status
		);
		expect(started.headers.get("x-imagebuilder-status")).toBe(started.body.imagebuilder_status);

		const done = await untilDone(hash);
		expect(done.status).toBe(200);
		expect(done.body).toMatchObject({
			status: 200,
			detail: "done",
			imagebuilder_status: "done",
			request_hash: hash,
			bin_dir: hash,
			id: "tplink_archer-c7-v5",
			version_number: "24.10.2",
			target: "ath79/generic"
		});
		expect(done.headers.get("x-imagebuilder-status")).toBe("done");
		expect(done.body.manifest.tmux).toBe("3.5a-r1");
		expect(done.body.build_cmd.join(" ")).toMatch(/simulated ImageBuilder/);
		expect(done.body.request.profile).toBe("tplink_archer-c7-v5");
		const image = done.body.images.find((i: any) => i.type === "sysupgrade");
		expect(image.filesystem).toBe("squashfs");

		const file = await fetch(`${url}/store/${done.body.bin_dir}/${image.name}`);
		expect(file.status).toBe(200);
		const bytes = Buffer.from(await file.arrayBuffer());
		expect(Number(file.headers.get("content-length"))).toBe(bytes.length);
		expect(crypto.createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);
		const head = await fetch(`${url}/store/${done.body.bin_dir}/${image.name}`, { method: "HEAD" });
		expect(head.status).toBe(200);
		expect(Number(head.headers.get("content-length"))).toBe(bytes.length);
		expect((await asu("GET", `/store/${hash}/../../etc/passwd`)).status).toBe(404);

		// HEAD answers like GET, without a body.
		const h = await asu("HEAD", `/api/v1/build/${hash}`);
		expect(h.status).toBe(200);
		expect(h.text).toBe("");
		expect(h.headers.get("x-imagebuilder-status")).toBe("done");

		// The same request again: a cache hit, answered at once.
		const again = await asu("POST", "/api/v1/build", { ...C7, packages: ["tmux"], client: "test/1" });
		expect(again.status).toBe(200);
		expect(again.body.request_hash).toBe(hash);
	});

	it("a duplicate while building joins the job; a burst is queued first in, first out", async () => {
		const pkgs = ["vim", "htop", "curl", "luci"];
		const answers = [];
		for (const p of pkgs) answers.push(await asu("POST", "/api/v1/build", { ...C7, packages: [p] }));
		const dup = await asu("POST", "/api/v1/build", { ...C7, packages: ["vim"] });
		expect(dup.body.request_hash).toBe(answers[0].body.request_hash);
		expect(dup.status).toBe(202);
		const positions = await Promise.all(
			answers.slice(1).map(a => asu("GET", `/api/v1/build/${a.body.request_hash}`))
		);
		const queued = positions.filter(p => p.body.detail === "queued").map(p => p.body.queue_position);
		expect(queued.length).toBeGreaterThanOrEqual(2);
		for (let i = 1; i < queued.length; i++) expect(queued[i]).toBe(queued[i - 1] + 1);
		expect(positions.find(p => p.body.detail === "queued")!.headers.get("x-queue-position")).toBe(
			String(queued[0])
		);
		const stats = await asu("GET", "/api/v1/stats");
		expect(stats.body.queue_length).toBeGreaterThanOrEqual(1);
		for (const a of answers) expect((await untilDone(a.body.request_hash)).status).toBe(200);
	});

	it("a failing build answers 500 with detail and stderr, and is kept (1 h)", async () => {
		const r = await asu("POST", "/api/v1/build", { ...C7, packages: ["this-package-does-not-exist"] });
		const failed = await untilDone(r.body.request_hash);
		expect(failed.status).toBe(500);
		expect(failed.body.status).toBe(500);
		expect(failed.body.detail).toBe("Error: Impossible package selection: missing (this-package-does-not-exist)");
		expect(failed.body.stderr).toMatch(/Cannot install package this-package-does-not-exist/);
		expect(failed.headers.get("x-imagebuilder-status")).toBe("failed");
		expect((await asu("POST", "/api/v1/build", { ...C7, packages: ["this-package-does-not-exist"] })).status).toBe(
			500
		);
		const q = new Queue("asu-builds", { connection: { url: REDIS_URL } as any, prefix: `${namespace}-bull` });
		const job = await q.getJob(r.body.request_hash);
		expect(job?.data.failureTtlS).toBe(3600);
		expect(job?.opts.removeOnFail).toEqual({ age: 3600 });
		await q.close();
		const errors = await fetch(`${url}/api/v1/build-errors`);
		expect(await errors.text()).toMatch(
			/24\.10\.2:ath79\/generic:tplink_archer-c7-v5 Error: Impossible package selection/
		);
	});

	it("two steps: prepare, build the prepared request as it is, prepare again finds it built", async () => {
		const prep = await asu("POST", "/api/v1/build/prepare", {
			...C7,
			version: "24.10.2",
			packages: ["auc", "htop"],
			diff_packages: true
		});
		expect(prep.status).toBe(200);
		expect(prep.body.cache_available).toBe(false);
		const b = await asu("POST", "/api/v1/build?skip_package_resolution=true", prep.body.prepared_request);
		expect(b.body.request_hash).toBe(prep.body.request_hash);
		const done = await untilDone(b.body.request_hash);
		expect(done.status).toBe(200);
		expect(done.body.manifest.owut).toBeTruthy();
		expect(done.body.manifest.dnsmasq).toBeUndefined();
		const again = await asu("POST", "/api/v1/build/prepare", {
			...C7,
			version: "24.10.2",
			packages: ["auc", "htop"],
			diff_packages: true
		});
		expect(again.body).toMatchObject({ cache_available: true, cached_job_id: prep.body.request_hash });
	});

	it("answers 404, 405, 422 and the 400 texts as upstream does", async () => {
		const unknown = await asu("GET", `/api/v1/build/${"0".repeat(64)}`);
		expect(unknown.status).toBe(404);
		expect(unknown.body).toEqual({
			status: 404,
			title: "Not Found",
			detail: "could not find provided request hash"
		});
		expect((await asu("HEAD", `/api/v1/build/${"0".repeat(64)}`)).status).toBe(404);
		expect((await asu("POST", `/api/v1/build/${"0".repeat(64)}`, {})).status).toBe(405);
		const schema = await asu("POST", "/api/v1/build", { ...C7, packages: ["+tmux"] });
		expect(schema.status).toBe(422);
		expect(schema.body.detail[0]).toMatchObject({ type: "string_pattern_mismatch", loc: ["body", "packages", 0] });
		const missing = await asu("POST", "/api/v1/build", { target: "ath79/generic", profile: "x" });
		expect(missing.body.detail[0]).toMatchObject({
			type: "missing",
			loc: ["body", "version"],
			msg: "Field required"
		});
		expect((await asu("POST", "/api/v1/build", "{not json")).status).toBe(422);
		const v = await asu("POST", "/api/v1/build", { ...C7, version: "24.10.99" });
		expect(v.status).toBe(400);
		expect(v.body).toEqual({ detail: "Unsupported version: 24.10.99", status: 400 });
		const t = await asu("POST", "/api/v1/build", { ...C7, target: "ramips/mt7621" });
		expect(t.body.detail).toMatch(/^Unsupported target: ramips\/mt7621\. The requested target was either dropped/);
		const p = await asu("POST", "/api/v1/build", { ...C7, profile: "no-such-board" });
		expect(p.body.detail).toMatch(
			/^Unsupported profile: no-such-board\. The requested profile was either dropped or never existed/
		);
		const d = await asu("POST", "/api/v1/build", { ...C7, defaults: "echo hi" });
		expect(d.body.detail).toBe("Handling `defaults` not enabled on server");
	});

	it("statistics: counts, views and /metrics", async () => {
		await waitFor(async () => (await asu("GET", "/api/v1/stats/summary")).body.builds_24h >= 5, 5000, "summary");
		const perDay = await asu("GET", "/api/v1/builds-per-day");
		expect(perDay.body.labels).toHaveLength(30);
		expect(perDay.body.datasets.map((d: any) => d.label)).toEqual(["Requests", "Cache-Hits", "Failures"]);
		const today = perDay.body.datasets.map((d: any) => d.data[29]);
		expect(today[0]).toBeGreaterThanOrEqual(8);
		expect(today[1]).toBeGreaterThanOrEqual(1);
		expect(today[2]).toBe(1);
		const top = await asu("GET", "/api/v1/top-packages?branch=24.10");
		expect(top.body.packages.map((p: any) => p.name)).toContain("tmux");
		const byVersion = await asu("GET", "/api/v1/builds-by-version");
		expect(byVersion.body.datasets[0].label).toBe("24.10");
		const metrics = await (await fetch(`${url}/metrics`)).text();
		expect(metrics).toMatch(/asu_build_duration_seconds_bucket/);
		expect(metrics).toMatch(/asu_cache_hit_ratio \d/);
	});
});
