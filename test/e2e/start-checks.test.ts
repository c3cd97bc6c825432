/**
 * Start-up never hangs and `/ready` tells the truth (nodes started as `npm start` starts them):
 *   - a taken PORT / MQTT_PORT / MQTTS_PORT, an unresolvable HOST, an unwritable DATA_DIR and
 *     bad LOGLEVEL / METRICS_PORT / TRACING values each stop the node (never hang) with one
 *     line naming the variable, and no stack trace;
 *   - with a taken MQTTS_PORT, `/ready` is never 200 while the node lives;
 *   - `/ready` 200 implies the node's API routes answer: POST /api/users/auth is never 404 once
 *     `/ready` said 200, and before that it answers 503 NOT_READY (polled every 20 ms).
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/broker";
import { startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const started: NodeProcess[] = [];
const holders: net.Server[] = [];

afterAll(async () => {
	await Promise.all(started.map(n => n.kill("SIGKILL")));
	for (const h of holders) h.close();
});

/** A port held by this test process, as another program would hold it. */
async function takenPort(host = "127.0.0.1"): Promise<number> {
	const server = net.createServer();
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, host, () => resolve());
	});
	holders.push(server);
	return (server.address() as net.AddressInfo).port;
}

async function privatePorts() {
	return {
		PORT: String(await freePort()),
		MQTT_PORT: String(await freePort()),
		MQTTS_PORT: String(await freePort())
	};
}

async function expectOneLine(env: Record<string, string>, variable: string) {
	const t0 = Date.now();
	const node = startNode({ DATA_DIR: tempDir("startcheck"), SIMULATE: "0", ...env });
	started.push(node);
	// A hang, not a slow start, is what this catches: the bound is generous for a loaded machine
	// (the time it took is printed; on an idle machine it is 1–4 s).
	const code = await Promise.race([node.exited, new Promise(r => setTimeout(() => r("still running"), 45_000))]);
	expect(code, `still running after 45 s:\n${node.output().slice(-3000)}`).toBe(1);
	console.log(`${variable}: stopped after ${Date.now() - t0} ms`);
	const clear = node
		.output()
		.trim()
		.split("\n")
		.filter(l => l.startsWith("fleetmesh: cannot start:"));
	expect(clear, node.output()).toHaveLength(1);
	expect(clear[0]).toContain(`${variable}:`);
	expect(node.output()).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
	expect(node.output()).not.toMatch(/\\n\s+at /);
	return clear[0];
}

describe("start-up stops with one line naming the variable", { timeout: 60_000 }, () => {
	it("PORT in use", async () => {
		const line = await expectOneLine(
			{ ...(await privatePorts()), SERVICES: "gateway", PORT: String(await takenPort("0.0.0.0")) },
			"PORT"
		);
		expect(line).toMatch(/already in use/);
	});

	it("HOST that does not resolve", async () => {
		const line = await expectOneLine(
			{ ...(await privatePorts()), SERVICES: "gateway", HOST: "no-such-host.invalid" },
			"HOST"
		);
		expect(line).toMatch(/does not resolve/);
	});

	it("HOST that is not an address of this machine", async () => {
		await expectOneLine({ ...(await privatePorts()), SERVICES: "gateway", HOST: "192.0.2.1" }, "HOST");
	});

	it("DATA_DIR that cannot be written", async () => {
		// Root may write anywhere: a directory below a plain file is unwritable for everyone.
		const file = path.join(tempDir("startcheck-file"), "a-file");
		fs.writeFileSync(file, "");
		await expectOneLine(
			{ ...(await privatePorts()), SERVICES: "gateway", DATA_DIR: path.join(file, "data") },
			"DATA_DIR"
		);
	});

	it("MQTT_PORT taken", async () => {
		await expectOneLine(
			{ ...(await privatePorts()), SERVICES: "pipeline-ingest", MQTT_PORT: String(await takenPort()) },
			"MQTT_PORT"
		);
	});

	it("MQTTS_PORT taken", async () => {
		await expectOneLine(
			{ ...(await privatePorts()), SERVICES: "pipeline-ingest", MQTTS_PORT: String(await takenPort("0.0.0.0")) },
			"MQTTS_PORT"
		);
	});

	for (const [variable, value] of [
		["LOGLEVEL", "bogus"],
		["METRICS_PORT", "abc"],
		["TRACING", "Bogus"]
	]) {
		it(`${variable}=${value}`, async () => {
			await expectOneLine({ ...(await privatePorts()), SERVICES: "gateway", [variable]: value }, variable);
		});
	}
});

interface Poll {
	t: number;
	ready: number | null;
	auth: number | null;
	authType?: string;
}

async function status(url: string, init?: RequestInit): Promise<{ status: number; type?: string } | null> {
	try {
		const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
		const body = (await res.json().catch(() => ({}))) as { type?: string };
		return { status: res.status, type: body.type };
	} catch {
		return null; // not listening yet
	}
}

describe("/ready tells the truth", () => {
	it("is never 200 while a taken MQTTS_PORT keeps the mTLS listener from listening", async () => {
		const ports = await privatePorts();
		const node = startNode({
			...ports,
			DATA_DIR: tempDir("ready-mqtts"),
			SIMULATE: "0",
			SERVICES: "gateway,signing,pipeline-ingest",
			MQTTS_PORT: String(await takenPort("0.0.0.0"))
		});
		started.push(node);
		const readies: number[] = [];
		while (node.child.exitCode == null) {
			const r = await status(`http://127.0.0.1:${ports.PORT}/ready`);
			if (r) readies.push(r.status);
			await new Promise(res => setTimeout(res, 20));
		}
		expect(readies).not.toContain(200);
		expect(node.output()).toMatch(/fleetmesh: cannot start: MQTTS_PORT: /);
	}, 30_000);

	it("200 implies POST /api/users/auth is not 404; before that the route answers 503 NOT_READY", async () => {
		const ports = await privatePorts();
		const node = startNode({
			...ports,
			DATA_DIR: tempDir("ready-routes"),
			SIMULATE: "0",
			SERVICES: "gateway,signing",
			ADMIN_PASSWORD: "Correct-horse-battery-9",
			AUTH_RATE_LIMIT: "1000000",
			AUTH_MAX_FAILURES: "1000000"
		});
		started.push(node);
		const base = `http://127.0.0.1:${ports.PORT}`;
		const polls: Poll[] = [];
		const t0 = Date.now();
		let readySince: number | null = null;
		while (Date.now() - t0 < 90_000 && (readySince == null || Date.now() - readySince < 1500)) {
			const [ready, auth] = await Promise.all([
				status(`${base}/ready`),
				status(`${base}/api/users/auth`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ email: "nobody@example.com", password: "wrong password" })
				})
			]);
			polls.push({
				t: Date.now() - t0,
				ready: ready?.status ?? null,
				auth: auth?.status ?? null,
				authType: auth?.type
			});
			if (ready?.status === 200 && readySince == null) readySince = Date.now();
			await new Promise(r => setTimeout(r, 20));
		}
		expect(readySince, `${JSON.stringify(polls.slice(-5))}\n${node.output().slice(-3000)}`).not.toBeNull();
		const first200 = polls.findIndex(p => p.ready === 200);
		// From the first 200 on, the route exists (a wrong password is 401, never 404).
		expect(polls.slice(first200).filter(p => p.auth === 404)).toEqual([]);
		expect(polls.slice(first200).every(p => p.auth === 401)).toBe(true);
		// Before it, whatever answered said "not ready yet", never "no such route".
		expect(polls.slice(0, first200).filter(p => p.auth === 404)).toEqual([]);
		const early = polls.slice(0, first200).filter(p => p.auth != null);
		expect(early.some(p => p.auth === 503)).toBe(true);
		for (const p of early) expect([503, 401]).toContain(p.auth);
		expect(early.filter(p => p.auth === 503).every(p => p.authType === "NOT_READY")).toBe(true);
	}, 120_000);
});
