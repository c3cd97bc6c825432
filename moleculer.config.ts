/**
 * Broker options for every fleetmesh node, all from the environment (services/shared/env.ts; README "Environment").
 *
 * Defaults are chosen for a flaky edge link: a Raspberry Pi on Wi-Fi or LTE talking to a
 * cloud tier. Calls fail fast and are retried a few times rather than hanging; a dead peer is
 * noticed within seconds and routed around; one slow action cannot exhaust a small node.
 */
import type { BrokerOptions, Errors as MoleculerErrors } from "moleculer";
import { Errors, ServiceBroker } from "moleculer";
import { AuthorizationMiddleware } from "./mixins/authorization";
import { createChannelsMiddleware } from "./mixins/channels";
import { DataDirMiddleware } from "./mixins/data-dir.middleware";
import { InputBoundsMiddleware } from "./mixins/input-bounds.middleware";
import { CircuitTimeoutMiddleware } from "./mixins/circuit-timeout.middleware";
import { EventBulkheadOffMiddleware } from "./mixins/event-bulkhead.middleware";
import { ListeningPrometheusReporter, PrometheusTextReporter } from "./mixins/metrics";
import { FleetMetricsMiddleware } from "./mixins/metrics-middleware";
import { attachBrokerToGuard, detachBrokerFromGuard } from "./mixins/process-guard";
import { defaultBulkhead } from "./services/shared/bulkheads";
import { readEnv, type FleetEnv } from "./services/shared/env";
import { checkDataDir } from "./services/shared/data-dir";
import { FleetErrorRegenerator } from "./services/shared/errors";
import { printStartBanner } from "./services/shared/first-start";
import { VALIDATION_MESSAGES } from "./services/shared/validation-messages";

/**
 * What /metrics shows: no host identity. Moleculer's built-in metrics include the host name, every
 * interface's IP and MAC address, the OS user and the process arguments; a scrape needs none of
 * them, and whoever reads them learns the network. The node id label is left out for the same
 * reason (the default one starts with the host name); Prometheus labels each target itself.
 */
const METRICS_REPORTER_OPTIONS = {
	excludes: [
		"os.hostname",
		"os.network.*",
		"os.user.*",
		"process.arguments",
		"process.pid",
		"process.ppid",
		"os.cpu.info.*"
	],
	defaultLabels: (registry: { broker: { namespace: string } }) => ({ namespace: registry.broker.namespace })
};

export function buildBrokerOptions(env: FleetEnv = readEnv()): BrokerOptions & { fleet: FleetEnv } {
	// A DATA_DIR that cannot be written stops the node now, with one line (not deep in a driver).
	checkDataDir(env.dataDir);
	const transporter =
		env.transporter.kind === "NATS"
			? {
					type: "NATS",
					options: {
						url: env.transporter.url,
						// Keep reconnecting forever: the edge must rejoin by itself after an outage.
						maxReconnectAttempts: -1,
						reconnectTimeWait: 1000
					}
				}
			: env.transporter.kind === "TCP"
				? "TCP"
				: null;

	const jsonLogs = env.logFormat ? env.logFormat === "json" : !process.stdout.isTTY;

	return {
		namespace: env.namespace,
		nodeID: env.nodeID,
		transporter,
		// JSON by default (SERIALIZER): readable on the wire, no native module; every node of a
		// mesh must use the same one.
		serializer: env.serializer,

		// Redis when several nodes must share it (MAC/label lookups, token cache); otherwise an
		// in-memory cache per node, cleared over the mesh by `cache.clean` events.
		cacher: env.redisUrl
			? { type: "Redis", options: { prefix: `${env.namespace}-cache`, ttl: 300, redis: env.redisUrl } }
			: { type: "Memory", options: { ttl: 300, clone: false } },

		// A call that times out on a flaky link is tried again on another (or the same, healed)
		// endpoint, with backoff, a few times: enough to ride out a Wi-Fi hiccup, not a storm.
		retryPolicy: {
			enabled: true,
			retries: 3,
			delay: 200,
			maxDelay: 2000,
			factor: 2,
			// A full bulkhead queue is not retried: the node is saturated, another try adds load.
			check: (err: Error) =>
				!!(err as MoleculerErrors.MoleculerRetryableError).retryable &&
				!(err instanceof Errors.QueueIsFullError)
		},

		// Stop sending to an endpoint that fails half of its calls, and probe it again after 5 s:
		// callers get an immediate error instead of waiting out every timeout of a dead node.
		circuitBreaker: {
			enabled: true,
			threshold: 0.5,
			minRequestCount: 5,
			windowTime: 30,
			halfOpenTime: 5000,
			check: (err: Error) => err instanceof Errors.MoleculerError && err.code >= 500
		},

		// Per action: as many running as the database pool has connections (DB_POOL_MAX), up to
		// BULKHEAD_QUEUE more waiting, the rest refused at once (503 + Retry-After at the gateway)
		// instead of piling up. Classes of actions: services/shared/bulkheads.ts. Actions only:
		// see mixins/event-bulkhead.middleware.ts.
		bulkhead: defaultBulkhead(env),

		// Every remote call has a deadline: nothing waits forever on a node that went away.
		requestTimeout: env.requestTimeoutMs,

		// Heartbeats every 5 s, a node silent for 15 s is removed: a killed Pi is noticed quickly
		// without flapping on an ordinary packet loss.
		heartbeatInterval: 5,
		heartbeatTimeout: 15,

		// Round-robin across nodes, but a local instance wins: no network hop when the service
		// runs here (and device actions are always called with the device's nodeID anyway).
		registry: { strategy: "RoundRobin", preferLocal: true },

		// Finish in-flight requests on SIGTERM/SIGINT before stopping (moleculer-runner stops the
		// broker on those signals); give up after 10 s.
		tracking: { enabled: true, shutdownTimeout: 10_000 },

		metrics: {
			enabled: env.metrics,
			// Histograms keep buckets, sum and count, but no quantiles: Moleculer's quantiles hold every
			// value of the last 60 s (every call's time), and that growing array made full GCs that
			// stopped the node for milliseconds every few seconds under load: the mesh's p99
			// (docs/performance.md, "Mesh"). mixins/metrics.ts prints `_sum`/`_count` without them.
			defaultQuantiles: null,
			// Reporter instances (Moleculer takes them; its typings only list option objects).
			reporter: [
				new PrometheusTextReporter(METRICS_REPORTER_OPTIONS),
				...(env.metricsPort
					? [new ListeningPrometheusReporter({ port: env.metricsPort, ...METRICS_REPORTER_OPTIONS })]
					: [])
			]
		} as unknown as BrokerOptions["metrics"],

		// Off by default (it costs CPU on a Pi); TRACING=Console|Event|Jaeger|Zipkin|Datadog turns it on.
		tracing: env.tracing ? { enabled: true, exporter: { type: env.tracing } } : { enabled: false },

		logger: {
			type: "Console",
			options: {
				level: env.logLevel,
				formatter: jsonLogs ? "json" : "short",
				colors: !jsonLogs,
				moduleColors: false,
				autoPadding: false
			}
		},

		// Messages that name the field, the value sent and what is allowed.
		validator: { type: "Fastest", options: { messages: VALIDATION_MESSAGES } },
		// Errors from another node keep their code and type (a remote 404/409/429 is not a 500).
		errorRegenerator: new FleetErrorRegenerator(),
		// AuthorizationMiddleware: the one access policy, checked where each action runs.
		middlewares: [
			DataDirMiddleware(env),
			AuthorizationMiddleware(),
			InputBoundsMiddleware(),
			CircuitTimeoutMiddleware(),
			EventBulkheadOffMiddleware(),
			createChannelsMiddleware(env),
			...internalMiddlewares()
		],
		// Listed above, after ours as Moleculer would add them, with the batched Metrics middleware.
		internalMiddlewares: false,

		// The process guard (bin/runner.ts) reports through this broker's logger and metrics.
		created: (broker: ServiceBroker) => attachBrokerToGuard(broker),
		// The newcomer's summary (dashboard URL, admin sign-in) at the end of the start-up output.
		started: (broker: ServiceBroker) => void printStartBanner(broker.logger, jsonLogs),
		stopped: (broker: ServiceBroker) => detachBrokerFromGuard(broker),

		// Local only (never sent to other nodes): the parsed environment, read by the mixins.
		fleet: env
	} as BrokerOptions & { fleet: FleetEnv };
}

/**
 * Moleculer's internal middlewares in Moleculer's own order, but "Metrics" is FleetMetricsMiddleware
 * (mixins/metrics-middleware.ts: the same metrics, recorded without a registry lookup per call).
 */
function internalMiddlewares(): Array<string | ((broker: ServiceBroker) => unknown)> {
	const names = (ServiceBroker as unknown as { INTERNAL_MIDDLEWARES: string[] }).INTERNAL_MIDDLEWARES;
	return names.map(name => (name === "Metrics" ? FleetMetricsMiddleware : name));
}

export default buildBrokerOptions;
