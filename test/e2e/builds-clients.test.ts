/**
 * The real ASU clients' request sequences against fleetmesh across three OS processes over
 * NATS: one API node (gateway, builds, builds-prepare) and two builds-worker nodes sharing one
 * BullMQ queue on Redis, a store directory and PostgreSQL, with the simulated ImageBuilder.
 *
 * owut: overview -> profiles.json from upstream_url -> package indexes -> POST -> HEAD polling
 * (status from the headers) -> GET -> download from /store/<bin_dir>/ and sha256 check.
 * LuCI: POST with the board name (comma) and installed packages -> GET polling -> image.
 * auc: branches.json -> per-profile JSON -> indexes -> POST -> GET polling -> Content-Length.
 * And a worker killed (SIGKILL) mid-build: its job is built by the other worker, not lost.
 */
import crypto from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "pg";
import { tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteRedisKeys } from "../helpers/cleanup";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";
import { NATS_URL, REDIS_URL, requireServer } from "../helpers/servers";

const namespace = uniqueNamespace("builds-e2e");
const svc = (p: string) => path.join(ROOT, "services", p);
let db: TestDatabase;
let api: NodeProcess;
const workers: Record<string, NodeProcess> = {};
let base = "";

const LOCK_MS = 1500;

beforeAll(async () => {
	await Promise.all([requireServer("nats"), requireServer("redis")]);
	db = await createTestDatabase("builds_e2e");
	const port = await freePort();
	base = `http://127.0.0.1:${port}`;
	const common = {
		NAMESPACE: namespace,
		TRANSPORTER: NATS_URL,
		REDIS_URL,
		DATABASE_URL: db.url,
		SERVICEDIR: ROOT,
		LOGLEVEL: "info",
		SIMULATE: "0",
		ASU_BUILDER: "simulated",
		ASU_STORE_DIR: tempDir("builds-e2e-store"),
		ASU_SIM_BUILD_MS: "1500",
		ASU_SIM_IMAGE_KIB: "32",
		ASU_WORKER_LOCK_MS: String(LOCK_MS)
	};
	api = startNode({
		...common,
		NODEID: "api",
		PORT: String(port),
		SERVICES: [
			svc("gateway/gateway.service.ts"),
			svc("builds/builds.service.ts"),
			svc("builds-prepare/builds-prepare.service.ts")
		].join(","),
		DATA_DIR: tempDir("builds-api")
	});
	for (const id of ["worker-a", "worker-b"]) {
		workers[id] = startNode({
			...common,
			NODEID: id,
			PORT: "0",
			SERVICES: svc("builds-worker/builds-worker.service.ts"),
			DATA_DIR: tempDir(id)
		});
	}
	await Promise.all([
		api.waitForOutput(/ServiceBroker with \d+ service\(s\) started/, 60_000),
		...Object.values(workers).map(w => w.waitForOutput(/builds-worker: simulated builder/, 60_000))
	]);
	// The API node sees both workers on the mesh before the first build.
	await Promise.all(
		["worker-a", "worker-b"].map(id => api.waitForOutput(new RegExp(`Node '${id}' connected`), 30_000))
	);
	await waitFor(async () => (await fetch(`${base}/api/v1/stats`)).status === 200, 20_000, "API up");
}, 120_000);

afterAll(async () => {
	await Promise.all([api?.kill("SIGTERM"), ...Object.values(workers).map(w => w.kill("SIGTERM"))]);
	await deleteRedisKeys(namespace);
	await db?.drop();
});

const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
const json = async (url: string, init?: RequestInit) => {
	const r = await fetch(url, init);
	return { status: r.status, headers: r.headers, body: (await r.json().catch(() => null)) as any };
};
const post = (body: unknown, ua: string) =>
	json(`${base}/api/v1/build`, {
		method: "POST",
		headers: { "content-type": "application/json", "user-agent": ua },
		body: JSON.stringify(body)
	});

async function download(binDir: string, image: { name: string; sha256: string }) {
	const r = await fetch(`${base}/store/${binDir}/${image.name}`);
	expect(r.status).toBe(200);
	const bytes = Buffer.from(await r.arrayBuffer());
	expect(Number(r.headers.get("content-length"))).toBe(bytes.length);
	expect(sha256(bytes)).toBe(image.sha256);
}

describe("ASU clients against two workers and one API node", () => {
	it("owut: overview, upstream profiles.json, HEAD polling, download and sha256", async () => {
		const UA = "owut/2025.03.20";
		const overview = (await json(`${base}/json/v1/overview.json`, { headers: { "user-agent": UA } })).body;
		const branch = Object.values<any>(overview.branches).find(
			b => b.enabled !== false && b.versions.includes("24.10.2")
		);
		const dir = branch.path.replace("{version}", "24.10.2");
		const pj = (await json(`${overview.upstream_url}/${dir}/targets/ath79/generic/profiles.json`)).body;
		const board = "tplink,archer-c7-v5";
		const profile = Object.entries<any>(pj.profiles).find(([, p]) =>
			p.supported_devices.map((d: string) => d.replace(/,/g, "_")).includes(board.replace(/,/g, "_"))
		)![0];
		const feeds = (await json(`${base}/json/v1/${dir}/packages/${pj.arch_packages}-index.json`)).body;
		const target = (await json(`${base}/json/v1/${dir}/targets/ath79/generic/index.json`)).body.packages;
		const all = { ...feeds, ...target };
		const installed = [...pj.default_packages, ...pj.profiles[profile].device_packages, "owut", "tmux"];
		const packages_versions = Object.fromEntries(installed.map(p => [p, all[p]]));
		const first = await post(
			{
				client: UA,
				target: "ath79/generic",
				profile: board.replace(/,/g, "_"),
				version: "24.10.2",
				version_code: pj.version_code,
				filesystem: "squashfs",
				diff_packages: true,
				packages_versions
			},
			UA
		);
		expect([200, 202]).toContain(first.status);
		expect(["queued", "started"]).toContain(first.body.detail);
		const hash = first.body.request_hash;
		// HEAD polling: a 202 is read from the headers alone; anything else is fetched with GET.
		let done: any = null;
		let sawHead202 = false;
		for (let i = 0; i < 100 && !done; i++) {
			await new Promise(r => setTimeout(r, 300));
			const h = await fetch(`${base}/api/v1/build/${hash}`, { method: "HEAD" });
			expect(h.status).not.toBe(405);
			if (h.status === 202) {
				sawHead202 = true;
				expect(h.headers.get("x-imagebuilder-status")).toBeTruthy();
				expect(h.headers.get("x-queue-position")).toMatch(/^\d+$/);
				continue;
			}
			const g = await json(`${base}/api/v1/build/${hash}`);
			expect(g.status).toBe(200);
			done = g.body;
		}
		expect(sawHead202).toBe(true);
		expect(done.status).toBe(200);
		expect(done.request.version_code).toBe(pj.version_code);
		expect(done.version_code).toBe(pj.version_code);
		for (const p of installed) expect(done.manifest[p]).toBe(all[p]);
		const image = done.images.find((i: any) => i.filesystem === "squashfs" && i.type === "sysupgrade");
		await download(done.bin_dir, image);
		expect(done.bin_dir).toBe(hash);
	});

	it("LuCI: board name with a comma, GET polling, the 24.10 package changes applied", async () => {
		const check = await fetch(`${base}/api/overview`, { redirect: "follow" });
		expect((await check.json()).latest[0]).toBe("24.10.2");
		const r = await post(
			{
				client: "luci/24.350.23891~2d6cb4e",
				packages: ["auc", "luci", "luci-app-attendedsysupgrade"],
				profile: "tplink,archer-c6-v2",
				target: "ath79/generic",
				version: "24.10.2",
				diff_packages: true,
				filesystem: "squashfs"
			},
			"Mozilla/5.0"
		);
		expect(r.status).toBe(202);
		const steps = [
			"init",
			"container_setup",
			"validate_revision",
			"validate_manifest",
			"calculate_packages_hash",
			"building_image",
			"signing_images",
			"done",
			"failed"
		];
		const done = await waitFor(
			async () => {
				const g = await json(`${base}/api/v1/build/${r.body.request_hash}`);
				if (g.status === 202) {
					if (!("queue_position" in g.body)) expect(steps).toContain(g.body.imagebuilder_status);
					return null;
				}
				return g;
			},
			30_000,
			"LuCI build"
		);
		expect(done.status).toBe(200);
		expect(done.body.id).toBe("tplink_archer-c6-v2");
		expect(done.body.manifest["ipq-wifi-tplink_archer-c6-v2"]).toBeTruthy();
		expect(done.body.manifest.owut).toBeTruthy();
		expect(done.body.manifest.auc).toBeUndefined();
		const image = done.body.images.find((i: any) => i.filesystem === "squashfs" && i.type === "sysupgrade");
		expect(image.sha256_unsigned).toBeTruthy();
		await download(done.body.bin_dir, image);
	});

	it("auc: branches.json, per-profile JSON, indexes, Content-Length on download", async () => {
		const UA = "auc (0.3.2)";
		const branches = (await json(`${base}/json/v1/branches.json`)).body;
		const branch = branches.find((b: any) => b.name === "23.05");
		expect(branch).toMatchObject({ enabled: true, path_packages: "DEPRECATED" });
		const version = branch.versions[0];
		const arch = branch.targets["ath79/generic"];
		const board = "glinet,gl-ar300m16".replace(/,/g, "_");
		const prof = (
			await json(
				`${base}/json/v1/${branch.path.replace("{version}", version)}/targets/ath79/generic/${board}.json`
			)
		).body;
		expect(prof).toMatchObject({ metadata_version: 1, arch_packages: arch, target: "ath79/generic" });
		expect(prof.images.length).toBeGreaterThan(0);
		const idx = (
			await json(`${base}/json/v1/${branch.path.replace("{version}", version)}/targets/ath79/generic/index.json`)
		).body;
		expect(idx.architecture).toBe(arch);
		const feeds = (
			await json(`${base}/json/v1/${branch.path.replace("{version}", version)}/packages/${arch}-index.json`)
		).body;
		const packages_versions = { auc: feeds.auc, dropbear: feeds.dropbear };
		const r = await post(
			{
				version,
				version_code: prof.version_code,
				target: "ath79/generic",
				profile: "glinet_gl-ar300m16",
				diff_packages: true,
				packages_versions
			},
			UA
		);
		expect([200, 202], JSON.stringify(r.body)).toContain(r.status);
		const done = await waitFor(
			async () => {
				const g = await json(`${base}/api/v1/build/${r.body.request_hash}`);
				return g.status === 200 || g.status === 500 ? g : null;
			},
			30_000,
			"auc build"
		);
		expect(done.status, JSON.stringify(done.body).slice(0, 800)).toBe(200);
		await download(done.body.bin_dir, done.body.images[0]);
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		const rows = await waitFor(
			async () =>
				(await pg.query("SELECT DISTINCT client FROM build_events WHERE client IS NOT NULL")).rows.map(
					r => r.client
				),
			5000,
			"stats"
		);
		await pg.end();
		expect(rows).toEqual(expect.arrayContaining(["auc/0.3.2", "owut/2025.03.20", "luci/24.350.23891~2d6cb4e"]));
	});

	it("a worker killed mid-build: the other worker builds the job", async () => {
		const r = await post(
			{ version: "24.10.2", target: "x86/64", profile: "generic", packages: ["vim", "htop"] },
			"test"
		);
		const hash: string = r.body.request_hash;
		const started = new RegExp(`build ${hash.slice(0, 12)} started on (worker-[ab])`);
		const [, victim] = await Promise.race(Object.values(workers).map(w => w.waitForOutput(started, 20_000)));
		const survivor = victim === "worker-a" ? "worker-b" : "worker-a";
		await workers[victim].kill("SIGKILL");
		const done = await waitFor(
			async () => {
				const g = await json(`${base}/api/v1/build/${hash}`);
				return g.status === 200 || g.status === 500 ? g : null;
			},
			30_000,
			"retaken build"
		);
		expect(done.status).toBe(200);
		expect(workers[survivor].output()).toMatch(started);
		expect(done.body.images.map((i: any) => i.type)).toEqual(expect.arrayContaining(["combined", "combined-efi"]));
	});
});
