/**
 * One node without Redis (in-process queue) and without a builder: prepare and the metadata
 * still answer, builds answer 503 with a clear detail; the public paths are rate limited per
 * address, open to any origin (LuCI calls them from the router's web UI), and redirect as upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ALL_BUILDS_SERVICES, asuClient, C7, gatewayUrl } from "./builds-support";

let broker: ServiceBroker;
let url = "";
const asu = asuClient(() => url);

beforeAll(async () => {
	broker = createTestBroker({
		namespace: uniqueNamespace("builds-meta"),
		env: { ASU_BUILDER: "none", ASU_RATE_LIMIT: "40", SIMULATE: "0" },
		services: ALL_BUILDS_SERVICES
	});
	await broker.start();
	url = gatewayUrl(broker);
	// Until every route is published, an unknown path answers 503 NOT_READY, not 404.
	await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 20_000, "/ready 200");
});

afterAll(async () => {
	await broker?.stop();
});

describe("builds metadata and prepare (no Redis, no builder)", () => {
	it("prepare answers the request to build, its hash and the changes; build answers 503", async () => {
		const r = await asu("POST", "/api/v1/build/prepare", { ...C7, packages: ["auc", "tmux"] });
		expect(r.status).toBe(200);
		expect(r.body).toMatchObject({
			status: "prepared",
			original_packages: ["auc", "tmux"],
			resolved_packages: ["tmux", "owut"],
			cache_available: false,
			cached_job_id: null
		});
		expect(r.body.changes[0]).toMatchObject({ type: "migration", from_package: "auc", to_package: "owut" });
		expect(r.body.prepared_request).toMatchObject({ profile: "tplink_archer-c7-v5", diff_packages: false });
		expect(r.body.request_hash).toMatch(/^[0-9a-f]{64}$/);
		expect((await asu("POST", "/api/v1/build/prepare", { ...C7, version: "1.2.3" })).body).toEqual({
			detail: "Unsupported branch: 1.2.3",
			status: 400
		});
		expect((await asu("POST", "/api/v1/build/prepare", { ...C7, packages: "tmux" })).status).toBe(422);
		const b = await asu("POST", "/api/v1/build", r.body.prepared_request);
		expect(b.status).toBe(503);
		expect(b.body.detail).toMatch(
			/^Firmware builds are not available on this server: no builder is configured \(set ASU_BUILDER/
		);
	});

	it("serves overview, branches, latest, per-profile JSON, package indexes and the mirror", async () => {
		const o = await asu("GET", "/json/v1/overview.json");
		expect(o.body.latest).toEqual(["24.10.2", "23.05.5"]);
		expect(o.body.upstream_url).toBe(`${url.replace("127.0.0.1", "127.0.0.1")}/upstream`);
		expect(o.body.server).toMatchObject({
			allow_defaults: false,
			max_custom_rootfs_size_mb: 1024,
			max_defaults_length: 20480
		});
		expect(o.body.branches["24.10"]).toMatchObject({
			enabled: true,
			path: "releases/{version}",
			versions: ["24.10.2", "24.10.1"],
			targets: { "ath79/generic": "mips_24kc" }
		});
		expect(o.body.branches["24.10"].package_changes.map((c: any) => c.source)).toContain("auc");
		const branches = await asu("GET", "/json/v1/branches.json");
		expect(branches.body.map((b: any) => b.name)).toEqual(["24.10", "23.05"]);
		expect((await asu("GET", "/json/v1/latest.json")).body).toEqual({ latest: ["24.10.2", "23.05.5"] });
		const prof = await asu("GET", "/json/v1/releases/24.10.2/targets/ath79/generic/tplink_archer-c7-v5.json");
		expect(prof.body).toMatchObject({
			id: "tplink_archer-c7-v5",
			metadata_version: 1,
			arch_packages: "mips_24kc",
			target: "ath79/generic",
			version_number: "24.10.2"
		});
		expect(prof.body.build_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
		expect(prof.body.profiles).toBeUndefined();
		expect((await asu("GET", "/json/v1/releases/24.10.2/targets/ath79/generic/nope.json")).body).toEqual({});
		const idx = await asu("GET", "/json/v1/releases/24.10.2/targets/ath79/generic/index.json");
		expect(idx.body.architecture).toBe("mips_24kc");
		expect(idx.body.packages["kmod-ath10k-ct"]).toBeTruthy();
		const feeds = await asu("GET", "/json/v1/releases/24.10.2/packages/mips_24kc-index.json");
		expect(feeds.body.tmux).toBe("3.5a-r1");
		const up = await asu("GET", "/upstream/releases/24.10.2/targets/ath79/generic/profiles.json");
		expect(up.body.profiles["tplink_archer-c7-v5"].supported_devices).toEqual(["tplink,archer-c7-v5"]);
		expect((await asu("GET", "/upstream/../package.json")).status).toBe(404);
		expect((await asu("GET", "/api/v1/revision/24.10.2/ath79/generic")).body).toEqual({
			revision: "r28739-d9340319c6"
		});
		expect((await asu("GET", "/api/v1/revision/9.9.9/ath79/generic")).body).toEqual({
			detail: "Unsupported version: 9.9.9",
			status: 400
		});
		expect((await asu("GET", "/api/v1/stats")).body).toEqual({ queue_length: 0 });
	});

	it("redirects as upstream (301) and answers any origin", async () => {
		for (const [from, to] of [
			["/api/v1/overview", "/json/v1/overview.json"],
			["/api/v1/latest", "/json/v1/latest.json"],
			["/overview", "/json/v1/overview.json"],
			["//json/v1/latest.json", "/json/v1/latest.json"]
		]) {
			const r = await fetch(url + from, { redirect: "manual" });
			expect(r.status).toBe(301);
			expect(r.headers.get("location")).toBe(to);
		}
		const pre = await fetch(`${url}/api/v1/build`, {
			method: "OPTIONS",
			headers: {
				origin: "http://192.168.1.1",
				"access-control-request-method": "POST",
				"access-control-request-headers": "content-type"
			}
		});
		expect(pre.status).toBe(204);
		expect(pre.headers.get("access-control-allow-origin")).toBe("*");
	});

	it("rate limits the public paths per address (429 with detail)", async () => {
		let limited = null;
		for (let i = 0; i < 60 && !limited; i++) {
			const r = await asu("GET", "/json/v1/latest.json");
			if (r.status === 429) limited = r;
		}
		expect(limited?.body).toMatchObject({ status: 429 });
		expect(limited?.body.detail).toMatch(/Too many requests/);
		expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
	});
});

describe("the podman builder on a node without podman", () => {
	let node: ServiceBroker;
	let pdb: TestDatabase;
	let purl = "";
	const papi = asuClient(() => purl);
	beforeAll(async () => {
		pdb = await createTestDatabase("builds_podman");
		node = createTestBroker({
			namespace: uniqueNamespace("builds-podman"),
			env: {
				ASU_BUILDER: "podman",
				DATABASE_URL: pdb.url,
				SIMULATE: "0",
				ASU_PODMAN_URL: "unix:///nonexistent/podman.sock"
			},
			services: ALL_BUILDS_SERVICES
		});
		await node.start();
		purl = gatewayUrl(node);
	});
	afterAll(async () => {
		await node?.stop();
		await pdb?.drop();
	});

	it("takes no jobs and builds answer 503 saying why; prepare still works", async () => {
		const b = await papi("POST", "/api/v1/build", { ...C7, packages: ["tmux"] });
		expect(b.status).toBe(503);
		expect(b.body.detail).toMatch(/the podman builder cannot run on node .*: podman is not available on this node/);
		expect((await papi("POST", "/api/v1/build/prepare", C7)).status).toBe(200);
	});
});
