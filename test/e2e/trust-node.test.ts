/**
 * A node started as `npm start` starts it (bin/runner.ts, every service, embedded PGlite and
 * simulated devices, default NODEID), seen from the outside:
 * - DATA_DIR is 0700 and every file in it 0600 (PGlite's included);
 * - a second process on the same DATA_DIR exits non-zero with one line naming DATA_DIR;
 * - /metrics on a non-loopback bind needs a token and shows no host identity;
 * - restarted twice on one DATA_DIR: the same device ids and count, nothing "streaming" on a
 *   node that is gone;
 * - `npm run admin -- reset-password` on the stopped node's DATA_DIR gives a working password.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/broker";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const ADMIN_EMAIL = "ops@example.com";
const ADMIN_PASSWORD = "Granite-harbor-2718";
const dataDir = tempDir("trust-node");
const running: NodeProcess[] = [];
let port = 0;
let env: Record<string, string> = {};

async function startFull(): Promise<NodeProcess> {
	const node = startNode(env);
	running.push(node);
	await waitFor(
		async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status === 200,
		90_000,
		`health of the node:\n${node.output().slice(-2000)}`
	);
	return node;
}

async function token(password = ADMIN_PASSWORD): Promise<string | null> {
	const r = await fetch(`http://127.0.0.1:${port}/api/users/auth`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ email: ADMIN_EMAIL, password })
	});
	return r.status === 200 ? ((await r.json()) as { access_token: string }).access_token : null;
}

async function get(p: string, t: string | null): Promise<{ status: number; body: any; text: string }> {
	const r = await fetch(`http://127.0.0.1:${port}${p}`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
	const text = await r.text();
	let body: any = null;
	try {
		body = JSON.parse(text);
	} catch {
		/* text */
	}
	return { status: r.status, body, text };
}

type Dev = { id: number; uid: string; status: string; nodeID: string; statusReason: string | null };
const devices = async (t: string): Promise<Dev[]> => (await get("/api/devices?limit=1000", t)).body.items;

function walk(dir: string, out: Array<{ p: string; mode: number; dir: boolean }> = []) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isSymbolicLink()) continue;
		const st = fs.statSync(p);
		out.push({ p, mode: st.mode & 0o777, dir: e.isDirectory() });
		if (e.isDirectory()) walk(p, out);
	}
	return out;
}

afterAll(async () => {
	for (const n of running) await n.kill("SIGTERM");
});

describe("a node on its DATA_DIR", () => {
	let firstIds: number[] = [];
	let nodeID = "";

	it("first start: private files, one process per DATA_DIR, /metrics behind a token", async () => {
		port = await freePort();
		env = {
			DATA_DIR: dataDir,
			PORT: String(port),
			MQTT_PORT: String(await freePort()),
			MQTTS_PORT: String(await freePort()),
			ADMIN_EMAIL,
			ADMIN_PASSWORD,
			LOGLEVEL: "warn"
		};
		const first = await startFull();
		const t = (await waitFor(() => token(), 90_000, "admin login"))!;
		// The simulated boards come up and stream.
		await waitFor(
			async () => (await devices(t)).filter(d => d.status === "streaming").length >= 2,
			90_000,
			"simulated devices streaming"
		);
		await new Promise(r => setTimeout(r, 2000));
		const list = await devices(t);
		firstIds = list.map(d => d.id).sort((a, b) => a - b);
		nodeID = (await get("/health", null)).body.nodeID;
		// The default NODEID: this host and DATA_DIR, not a process id.
		expect(nodeID).toMatch(new RegExp(`^${os.hostname()}-[0-9a-f]{6}$`));

		const entries = walk(dataDir);
		expect(entries.some(e => e.p.includes(`${path.sep}pglite${path.sep}`))).toBe(true);
		expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
		const open = entries.filter(e => (e.dir ? e.mode !== 0o700 : e.mode !== 0o600));
		expect(open.map(e => `${e.p} ${e.mode.toString(8)}`)).toEqual([]);

		// A second process on the same DATA_DIR refuses with one line.
		const second = startNode({ ...env, PORT: String(await freePort()) });
		const code = await second.exited;
		expect(code).not.toBe(0);
		const lines = second.output().trim().split("\n");
		expect(lines).toHaveLength(1);
		expect(lines[0]).toMatch(/DATA_DIR .* is in use/);
		expect(lines[0]).toContain(dataDir);
		expect((await get("/health", null)).status).toBe(200);

		// /metrics: the node listens on every interface, so a token is required.
		expect((await get("/metrics", null)).status).toBe(401);
		const metrics = await get("/metrics", t);
		expect(metrics.status).toBe(200);
		expect(metrics.text).toMatch(/^moleculer_node_type/m);
		const ifaces = Object.values(os.networkInterfaces()).flat().filter(Boolean) as os.NetworkInterfaceInfo[];
		const identities = [
			os.hostname(),
			os.userInfo().username,
			...ifaces.filter(i => !i.internal).map(i => i.address),
			...ifaces.filter(i => i.mac !== "00:00:00:00:00:00").map(i => i.mac),
			"bin/runner.ts"
		];
		for (const id of identities) expect(metrics.text, `/metrics shows ${id}`).not.toContain(id);

		expect(await first.kill("SIGTERM")).toBe(0);
	}, 300_000);

	it("restarts twice: same devices, none streaming on a gone node; reset-password on the stopped node", async () => {
		for (let round = 0; round < 2; round++) {
			if (round === 1) {
				// The lost admin password, while the node is stopped.
				const r = spawnSync(
					process.execPath,
					["--import", "tsx", "bin/admin.ts", "reset-password", ADMIN_EMAIL],
					{
						cwd: ROOT,
						env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", DATA_DIR: dataDir },
						encoding: "utf8"
					}
				);
				expect(r.status, r.stderr).toBe(0);
				const m = /new password for ops@example.com .*: (\S+)/.exec(r.stdout);
				expect(m, r.stdout).not.toBeNull();
				env.NEW_PASSWORD = m![1];
			}
			const node = await startFull();
			const t = (await waitFor(() => token(env.NEW_PASSWORD ?? ADMIN_PASSWORD), 90_000, "admin login"))!;
			if (env.NEW_PASSWORD) expect(await token(ADMIN_PASSWORD)).toBeNull();
			// Until the simulator has plugged them again, the old run's devices are disconnected by the planned stop.
			const early = await devices(t);
			expect(early.filter(d => d.status === "streaming" && d.nodeID !== nodeID)).toEqual([]);
			await waitFor(
				async () => (await devices(t)).filter(d => d.status === "streaming").length >= 2,
				90_000,
				"devices streaming again"
			);
			await new Promise(r => setTimeout(r, 2000));
			const list = await devices(t);
			expect(list.map(d => d.id).sort((a, b) => a - b)).toEqual(firstIds);
			expect(list.every(d => d.nodeID === nodeID || d.nodeID == null)).toBe(true);
			const alerts = await get("/api/monitoring/alerts?status=all", t);
			const offline = (alerts.body.items as Array<{ kind?: string; message: string }>).filter(
				a => a.kind === "offline" || /offline|silent/i.test(a.message)
			);
			expect(offline).toEqual([]);
			expect(await node.kill("SIGTERM")).toBe(0);
		}
	}, 420_000);
});
