/**
 * Two nodes in two OS processes over the real NATS on 127.0.0.1:4222: node A is a child
 * process started the way `npm start` starts a node; node B is this test's broker.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { createTestBroker, uniqueNamespace, waitFor, tempDir } from "../helpers/broker";
import { startNode, ROOT, type NodeProcess } from "../helpers/node-process";
import { NATS_URL, requireServer } from "../helpers/servers";

const namespace = uniqueNamespace("mesh");
const echoFile = path.join(ROOT, "test/fixtures/mesh/echo.service.ts");
const nodeEnv = {
	NAMESPACE: namespace,
	NODEID: "node-a",
	TRANSPORTER: NATS_URL,
	SERVICES: echoFile,
	SERVICEDIR: ROOT,
	DATA_DIR: tempDir("mesh-a"),
	PORT: "0",
	LOGLEVEL: "info"
};

let nodeA: NodeProcess | null = null;
let b: ServiceBroker;

function startA(): NodeProcess {
	nodeA = startNode(nodeEnv);
	return nodeA;
}

describe("two nodes over NATS", () => {
	beforeAll(async () => {
		await requireServer("nats");
		b = createTestBroker({
			namespace,
			nodeID: "node-b",
			env: { TRANSPORTER: NATS_URL, REQUEST_TIMEOUT_MS: "1000" },
			services: [{ name: "greeter", actions: { hi: () => "hi from b" } }]
		});
		await b.start();
		startA();
		await b.waitForServices("echo", 30_000);
	});

	afterAll(async () => {
		await nodeA?.kill("SIGKILL");
		await b?.stop();
	});

	it("each node sees the other's services and B calls an action on A", async () => {
		const res = await b.call("echo.hello", { name: "mesh" });
		expect(res).toEqual({ hello: "mesh", nodeID: "node-a" });

		// A's own registry (asked over the mesh) lists B's service.
		const servicesSeenByA = (await b.call(
			"$node.services",
			{ onlyAvailable: true },
			{ nodeID: "node-a" }
		)) as Array<{ name: string; nodes?: string[] }>;
		expect(servicesSeenByA.map(s => s.name)).toContain("greeter");
	});

	it("bad params are refused by the remote node's validator with a 422", async () => {
		await expect(b.call("echo.hello", { name: 42 })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});

	it("when A is killed, B's calls fail fast instead of hanging, and succeed again after A restarts", async () => {
		await nodeA!.kill("SIGKILL");

		// Each call rejects: with a timeout while A still looks alive, then at once once the
		// circuit breaker has opened or A was dropped from the registry. None hangs.
		const errors: Array<{ type?: string; name?: string; ms: number }> = [];
		const giveUp = Date.now() + 60_000;
		while (Date.now() < giveUp) {
			const started = Date.now();
			const outcome = await b.call("echo.hello", {}, { retries: 0 }).then(
				() => null,
				(err: { type?: string; name?: string }) => err
			);
			expect(outcome, "a call succeeded although node A is dead").not.toBeNull();
			const ms = Date.now() - started;
			// The configured request timeout is 1 s; a call may never take much longer than that.
			expect(ms).toBeLessThan(3000);
			errors.push({ type: outcome!.type, name: outcome!.name, ms });
			if (["SERVICE_NOT_AVAILABLE", "SERVICE_NOT_FOUND"].includes(outcome!.type ?? "")) break;
		}
		const last = errors[errors.length - 1];
		expect(["SERVICE_NOT_AVAILABLE", "SERVICE_NOT_FOUND"]).toContain(last.type);
		expect(last.ms).toBeLessThan(200);
		// The circuit breaker opened after a handful of timeouts, long before A's heartbeat expired.
		expect(errors.length).toBeLessThanOrEqual(8);
		expect(errors.slice(0, -1).every(e => e.type === "REQUEST_TIMEOUT" || e.type === "REQUEST_REJECTED")).toBe(
			true
		);

		const restartedAt = Date.now();
		startA();
		const back = await waitFor(
			() => b.call("echo.hello", { name: "again" }, { retries: 0 }).catch(() => null),
			30_000,
			"node A to answer again after its restart"
		);
		expect(back).toEqual({ hello: "again", nodeID: "node-a" });
		console.log(
			`failures until fail-fast: ${errors.map(e => `${e.type}:${e.ms}ms`).join(", ")}; answered ` +
				`again ${Date.now() - restartedAt} ms after the restart`
		);
	});
});
