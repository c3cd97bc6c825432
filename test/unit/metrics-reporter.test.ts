/**
 * /metrics text of a node as moleculer.config.ts builds it: histograms without Moleculer's
 * quantile reservoir (every value of the last 60 s, which filled the old generation under load),
 * still with buckets, `_sum` and `_count`; a histogram with its own quantile list keeps them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { prometheusText } from "../../mixins/metrics";
import EchoService from "../fixtures/mesh/echo.service";
import { createTestBroker, uniqueNamespace } from "../helpers/broker";

let broker: ServiceBroker;

beforeAll(async () => {
	broker = createTestBroker({ namespace: uniqueNamespace("metrics-reporter"), services: [EchoService] });
	await broker.start();
	for (let i = 0; i < 5; i++) await broker.call("echo.echo", { i });
});

afterAll(() => broker.stop());

interface Histogram {
	quantiles?: unknown;
	values: Map<string, { quantileValues?: unknown }>;
}

describe("metrics", () => {
	it("request times are a histogram without a quantile reservoir", () => {
		const time = broker.metrics.getMetric("moleculer.request.time") as unknown as Histogram;
		expect(time.quantiles).toBeFalsy();
		for (const item of time.values.values()) expect(item.quantileValues).toBeUndefined();
	});

	it("/metrics prints buckets, sum and count of a histogram, in one group", () => {
		const text = prometheusText(broker)!;
		const lines = text.split("\n").filter(l => l.startsWith("moleculer_request_time") && l.includes("echo.echo"));
		expect(lines.some(l => /^moleculer_request_time_bucket\{.*le="\+Inf".*\} 5$/.test(l))).toBe(true);
		expect(lines.some(l => /^moleculer_request_time_count\{.*\} 5$/.test(l))).toBe(true);
		expect(lines.some(l => /^moleculer_request_time_sum\{.*\} [0-9.e-]+$/.test(l))).toBe(true);
		expect(lines.some(l => /quantile=/.test(l))).toBe(false);
		// One # TYPE line per family, and the family's lines together (the Prometheus text format).
		const all = text.split("\n");
		expect(all.filter(l => l === "# TYPE moleculer_request_time histogram")).toHaveLength(1);
		const at = all.map((l, i) => (l.startsWith("moleculer_request_time_") ? i : -1)).filter(i => i >= 0);
		expect(at[at.length - 1] - at[0] + 1).toBe(at.length);
		// Counters and gauges still come from Moleculer's renderer.
		expect(text).toMatch(/^# TYPE moleculer_request_total counter$/m);
	});

	it("a histogram registered with its own quantile list keeps its quantiles", () => {
		broker.metrics.register({
			type: "histogram",
			name: "test.own.quantiles",
			quantiles: [0.5, 0.99],
			buckets: [1, 10]
		} as never);
		for (const v of [1, 2, 3]) broker.metrics.observe("test.own.quantiles", v);
		const text = prometheusText(broker)!;
		expect(text).toMatch(/^test_own_quantiles\{.*quantile="0\.5".*\} 2$/m);
		expect(text).toMatch(/^test_own_quantiles_count(\{.*\})? 3$/m);
		expect(text).toMatch(/^test_own_quantiles_sum(\{.*\})? 6$/m);
		expect(text).toMatch(/^test_own_quantiles_bucket\{.*le="10".*\} 3$/m);
	});
});
