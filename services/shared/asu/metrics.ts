/** Prometheus metrics of the builds area (in /metrics of each node that runs them). */
import type { ServiceBroker } from "moleculer";

export const BUILD_METRICS = {
	queueLength: "asu_queue_length",
	activeBuilds: "asu_builds_active",
	duration: "asu_build_duration_seconds",
	requests: "asu_build_requests_total",
	cacheHits: "asu_cache_hits_total",
	cacheMisses: "asu_cache_misses_total",
	cacheHitRatio: "asu_cache_hit_ratio"
} as const;

export function registerBuildMetrics(broker: ServiceBroker): void {
	const m = broker.metrics as unknown as
		| { isEnabled?(): boolean; getMetric(name: unknown): unknown; register(opts: Record<string, unknown>): unknown }
		| undefined;
	if (!m || !m.isEnabled?.()) return;
	const once = (opts: Record<string, unknown>) => {
		if (!m.getMetric(opts.name)) m.register(opts);
	};
	once({ type: "gauge", name: BUILD_METRICS.queueLength, description: "Build jobs waiting in the queue" });
	once({ type: "gauge", name: BUILD_METRICS.activeBuilds, description: "Build jobs being built" });
	once({
		type: "histogram",
		name: BUILD_METRICS.duration,
		description: "Build duration (seconds), by outcome",
		labelNames: ["outcome"],
		unit: "seconds",
		buckets: [1, 5, 15, 30, 60, 120, 300, 600]
	});
	once({ type: "counter", name: BUILD_METRICS.requests, description: "POST /api/v1/build requests" });
	once({
		type: "counter",
		name: BUILD_METRICS.cacheHits,
		description: "Build requests answered from a finished build"
	});
	once({ type: "counter", name: BUILD_METRICS.cacheMisses, description: "Build requests that needed a new build" });
	once({
		type: "gauge",
		name: BUILD_METRICS.cacheHitRatio,
		description: "cache hits / (hits + misses) since this node started"
	});
}
