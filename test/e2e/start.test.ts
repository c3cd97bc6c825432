/**
 * `npm start` as a new user runs it: no servers configured, every service, embedded defaults.
 * And a node given a bad environment stops with one clear line naming the variable.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/broker";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const started: NodeProcess[] = [];

async function getStatus(url: string): Promise<{ status: number; body: any } | null> {
	try {
		const res = await fetch(url);
		return { status: res.status, body: await res.json().catch(() => null) };
	} catch {
		return null;
	}
}

/** Command lines of the processes in a process group (npm start was started detached: its own group). */
function processesInGroup(pgid: number): string[] {
	const out: string[] = [];
	for (const d of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
			if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
			out.push(fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ").trim());
		} catch {
			// exited meanwhile
		}
	}
	return out;
}

afterAll(async () => {
	await Promise.all(started.map(n => n.kill("SIGTERM")));
});

describe("npm start", () => {
	it("with no environment answers /health and /ready with 200", async () => {
		const port = await freePort();
		const child = spawn("npm", ["start", "--silent"], {
			cwd: ROOT,
			// Only what makes this run private to the test: its own port and data directory, and
			// MQTTS_PORT. MQTT_PORT stays at its default 1883, which the machine's own Mosquitto
			// holds: a first start next to a system broker must still come up.
			env: {
				PATH: process.env.PATH ?? "",
				HOME: process.env.HOME ?? "/root",
				PORT: String(port),
				MQTTS_PORT: String(await freePort()),
				DATA_DIR: tempDir("start"),
				NODEID: "start-test"
			},
			stdio: ["ignore", "pipe", "pipe"],
			detached: true
		});
		let output = "";
		child.stdout.on("data", d => (output += d));
		child.stderr.on("data", d => (output += d));
		// "close": every process holding the pipes (npm, sh, node) is gone, not just npm.
		const exited = new Promise(r => child.once("close", r));
		started.push({
			kill: async () => {
				try {
					process.kill(-child.pid!, "SIGTERM");
				} catch {
					/* gone */
				}
				await exited;
				return null;
			}
		} as unknown as NodeProcess);

		const t0 = Date.now();
		let health = null;
		let ready = null;
		// A bound that only catches a hang: start-up time is a figure (docs/performance.md), not an
		// assertion, and on a loaded 2-core machine the prestart compile alone can take 20 s.
		const HANG_MS = 90_000;
		let gone = false;
		void exited.then(() => (gone = true));
		while (Date.now() - t0 < HANG_MS && !gone) {
			health = await getStatus(`http://127.0.0.1:${port}/health`);
			ready = await getStatus(`http://127.0.0.1:${port}/ready`);
			if (health?.status === 200 && ready?.status === 200) break;
			await new Promise(r => setTimeout(r, 250));
		}
		expect(health?.status, `no healthy answer within ${HANG_MS / 1000} s; output:\n${output.slice(-4000)}`).toBe(
			200
		);
		expect(
			ready?.status,
			`not ready within ${HANG_MS / 1000} s: ${JSON.stringify(ready?.body)}\n${output.slice(-4000)}`
		).toBe(200);
		expect(health!.body).toMatchObject({ status: "ok", nodeID: "start-test" });
		// Production runs compiled JavaScript: the node npm started is dist/bin/runner.js, no TypeScript loader.
		// (The node process itself, not the `sh -c` npm runs it from.)
		const nodes = processesInGroup(child.pid!).filter(cmd => /^\S*node\s/.test(cmd) && cmd.includes("runner."));
		expect(
			nodes.length,
			`no runner process in the group of npm start: ${processesInGroup(child.pid!).join(" | ")}`
		).toBe(1);
		expect(nodes[0]).toMatch(/dist\/bin\/runner\.js/);
		expect(nodes[0]).not.toMatch(/tsx/);
		// Next to a system broker on 1883 (CI's Mosquitto), the default plain listener is skipped with a warning.
		const mqttDefaultTaken = await new Promise<boolean>(resolve => {
			const sock = net.connect(1883, "127.0.0.1", () => (sock.destroy(), resolve(true)));
			sock.on("error", () => resolve(false));
		});
		if (mqttDefaultTaken) expect(output).toMatch(/plain listener not started: 127\.0\.0\.1:1883 is taken/);
		// The embedded defaults are what /ready checked: PGlite and the in-process channels.
		expect(ready!.body.checks.database).toMatchObject({ ok: true, detail: "pglite" });
		expect(ready!.body.checks.channels).toMatchObject({ ok: true, detail: "Fake" });

		// Listening on every interface: /metrics wants a token (METRICS_AUTH unset).
		const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
		expect(metrics.status).toBe(401);

		// Errors are JSON { name, message, code, type, data }, without a stack.
		const missing = await fetch(`http://127.0.0.1:${port}/api/no/such/route`);
		expect(missing.status).toBe(404);
		const body = await missing.json();
		expect(Object.keys(body).sort()).toEqual(["code", "message", "name", "type"]);
		expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(js|ts):\d+/);

		// SIGTERM stops the broker gracefully (services stopped, exit code 0).
		process.kill(-child.pid!, "SIGTERM");
		const code = await Promise.race([exited, new Promise(r => setTimeout(() => r("still running"), 20_000))]);
		expect(output).toMatch(/ServiceBroker is stopped/);
		expect(code).not.toBe("still running");
	}, 150_000);
});

describe("a bad environment stops the node with one clear line", () => {
	const cases: Array<{ variable: string; env: Record<string, string> }> = [
		{ variable: "TRANSPORTER", env: { TRANSPORTER: "amqp//not-a-transporter" } },
		{ variable: "TRANSPORTER", env: { TRANSPORTER: "nats://" } },
		{
			variable: "DATABASE_URL",
			env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere", DB_CONNECT_TIMEOUT_MS: "300" }
		},
		{ variable: "DATABASE_URL", env: { DATABASE_URL: "mysql://localhost/x" } },
		{ variable: "PORT", env: { PORT: "eighty" } }
	];
	for (const c of cases) {
		it(`${c.variable}=${Object.values(c.env)[0]}`, async () => {
			// Free MQTT ports: the machine's Mosquitto holds 1883, and a taken port would be the error reported.
			const node = startNode({
				DATA_DIR: tempDir("badenv"),
				PORT: "0",
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				SIMULATE: "0",
				...c.env
			});
			started.push(node);
			const code = await Promise.race([
				node.exited,
				new Promise(r => setTimeout(() => r("still running"), 30_000))
			]);
			expect(code, node.output()).toBe(1);
			const lines = node.output().trim().split("\n");
			const clear = lines.filter(l => l.startsWith("fleetmesh: cannot start:"));
			expect(clear, node.output()).toHaveLength(1);
			expect(clear[0]).toContain(c.variable);
			// No stack trace anywhere in what the user sees.
			expect(node.output()).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
			expect(node.output()).not.toMatch(/\\n\s+at /);
		});
	}
});
