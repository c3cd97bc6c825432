/**
 * The batched Metrics middleware (mixins/metrics-middleware.ts): what Moleculer's own middleware
 * recorded, recorded without a registry lookup per call. Its histogram flush against Moleculer's
 * own Histogram (the same values observed one by one), and the request, error, level, event,
 * emit and transit metrics of real calls: local ones in one broker, remote ones between two
 * brokers over NATS, read where a user reads them, on /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker, type Context } from "moleculer";
import { prometheusText } from "../../mixins/metrics";
import { flushMetrics, MetricBatches } from "../../mixins/metrics-middleware";
import EchoService from "../fixtures/mesh/echo.service";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { requireServer, NATS_URL } from "../helpers/servers";

const FailingService = {
	name: "failing",
	actions: {
		fail(ctx: Context<{ code: number }>) {
			const err = Object.assign(new Error("refused on purpose"), { code: ctx.params.code, type: "ON_PURPOSE" });
			err.name = "PurposeError";
			throw err;
		}
	},
	events: {
		"metrics.test"() {
			return undefined;
		}
	}
};

/** The value of the one /metrics line that starts with `name{` and has every label given. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
	for (const line of text.split("\n")) {
		if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
		if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
			return Number(line.slice(line.lastIndexOf(" ") + 1));
	}
	return undefined;
}

describe("batched metrics: the histogram flush", () => {
	it("equals Moleculer's own histogram fed the same values one by one", () => {
		const broker = new ServiceBroker({
			logger: false,
			metrics: { enabled: true, defaultQuantiles: null } as never
		});
		type Snapshot = Array<{ count: number; sum: number; buckets: object }>;
		const registry = broker.metrics as unknown as ConstructorParameters<typeof MetricBatches>[0];
		const snapshot = (name: string) => (registry.getMetric(name) as { snapshot(): Snapshot }).snapshot();
		for (const name of ["t.direct", "t.batched"])
			registry.register({ name, type: "histogram", labelNames: ["a"], buckets: true, rate: true } as never);
		const batches = new MetricBatches(registry);
		const batch = batches.histogram("t.batched", { a: "x" });
		// Bounds themselves, between them, 0, negative and beyond the largest bound.
		const values = [0, 0.005, 0.01, 0.3, 1, 2.5, 7, 10, 99.9, 1000, 5000, 20000, -1, 0.5];
		for (let round = 0; round < 3; round++) {
			for (const v of values) {
				registry.observe("t.direct", v * (round + 1), { a: "x" } as never);
				batch.observe(v * (round + 1));
			}
			// Round 0 flushes into a registry without the item (the first value makes it), later rounds add.
			batches.flush();
			const [d] = snapshot("t.direct");
			const [b] = snapshot("t.batched");
			expect(b.count).toBe(d.count);
			expect(b.sum).toBeCloseTo(d.sum, 9);
			expect(b.buckets).toEqual(d.buckets);
		}
		// Nothing observed since: a flush changes nothing.
		const before = JSON.stringify(snapshot("t.batched")[0].buckets);
		batches.flush();
		expect(JSON.stringify(snapshot("t.batched")[0].buckets)).toBe(before);
	});
});

describe("batched metrics: real calls", () => {
	let local: ServiceBroker;

	beforeAll(async () => {
		local = createTestBroker({
			namespace: uniqueNamespace("metrics-batched"),
			services: [EchoService, FailingService]
		});
		await local.start();
	});

	afterAll(() => local.stop());

	it("local calls, errors, levels, events and emits appear on /metrics", async () => {
		for (let i = 0; i < 7; i++) await local.call("echo.echo", { i });
		for (const code of [409, 409, 422])
			await expect(local.call("failing.fail", { code })).rejects.toThrow("on purpose");
		for (let i = 0; i < 4; i++) local.emit("metrics.test", { i });
		// Emitted events are handled on a later tick.
		await new Promise(r => setTimeout(r, 20));
		const text = prometheusText(local)!;
		expect(sample(text, "moleculer_request_total", { action: "echo.echo", type: "local" })).toBe(7);
		expect(sample(text, "moleculer_request_time_count", { action: "echo.echo", type: "local" })).toBe(7);
		expect(sample(text, "moleculer_request_time_bucket", { action: "echo.echo", le: "+Inf" })).toBe(7);
		expect(sample(text, "moleculer_request_active", { action: "echo.echo" })).toBe(0);
		expect(sample(text, "moleculer_request_total", { action: "failing.fail" })).toBe(3);
		expect(
			sample(text, "moleculer_request_error_total", {
				action: "failing.fail",
				errorName: "PurposeError",
				errorCode: "409"
			})
		).toBe(2);
		expect(sample(text, "moleculer_request_error_total", { action: "failing.fail", errorCode: "422" })).toBe(1);
		expect(sample(text, "moleculer_request_levels", { level: "1" })).toBeGreaterThanOrEqual(10);
		expect(sample(text, "moleculer_event_emit_total", { event: "metrics.test" })).toBe(4);
		expect(sample(text, "moleculer_event_received_total", { event: "metrics.test", service: "failing" })).toBe(4);
		expect(sample(text, "moleculer_event_received_time_count", { event: "metrics.test" })).toBe(4);
	});

	it("without a scrape, the registry catches up within a second", async () => {
		const before = (
			local.metrics.getMetric("moleculer.request.total") as unknown as {
				snapshot(): Array<{ labels: { action: string }; value: number }>;
			}
		)
			.snapshot()
			.find(i => i.labels.action === "echo.echo")!.value;
		for (let i = 0; i < 3; i++) await local.call("echo.echo", { i });
		await waitFor(
			() =>
				(
					local.metrics.getMetric("moleculer.request.total") as unknown as {
						snapshot(): Array<{ labels: { action: string }; value: number }>;
					}
				)
					.snapshot()
					.find(i => i.labels.action === "echo.echo")!.value ===
				before + 3,
			3000,
			"the 1 s flush"
		);
	});
});

describe("batched metrics: remote calls over NATS", () => {
	let caller: ServiceBroker;
	let remote: ServiceBroker;

	beforeAll(async () => {
		await requireServer("nats");
		const namespace = uniqueNamespace("metrics-batched-nats");
		const env = { TRANSPORTER: NATS_URL };
		remote = createTestBroker({ namespace, nodeID: "remote", env, services: [EchoService] });
		caller = createTestBroker({ namespace, nodeID: "caller", env });
		await Promise.all([remote.start(), caller.start()]);
		await caller.waitForServices("echo", 10_000);
	});

	afterAll(() => Promise.all([caller?.stop(), remote?.stop()]));

	it("the caller counts remote calls, the remote node local ones, transit gauges settle at 0", async () => {
		await Promise.all(Array.from({ length: 25 }, (_, i) => caller.call("echo.echo", { i })));
		flushMetrics(caller);
		flushMetrics(remote);
		const c = prometheusText(caller)!;
		const r = prometheusText(remote)!;
		expect(sample(c, "moleculer_request_total", { action: "echo.echo", type: "remote" })).toBe(25);
		expect(sample(c, "moleculer_request_time_count", { action: "echo.echo", type: "remote" })).toBe(25);
		expect(sample(r, "moleculer_request_total", { action: "echo.echo", type: "local" })).toBe(25);
		expect(sample(c, "moleculer_transit_publish_total", { type: "REQ" })).toBe(25);
		expect(sample(r, "moleculer_transit_receive_total", { type: "REQ" })).toBe(25);
		expect(sample(c, "moleculer_transporter_packets_sent_total", {})).toBeGreaterThanOrEqual(25);
		expect(sample(c, "moleculer_transporter_packets_sent_bytes", {})).toBeGreaterThan(25 * 20);
		// In flight now: none (Moleculer's middleware added the in-flight count on every packet, so it only grew).
		expect(sample(c, "moleculer_transit_requests_active", {})).toBe(0);
	});
});
