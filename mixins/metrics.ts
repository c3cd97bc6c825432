/**
 * Prometheus exposition without a second HTTP server.
 *
 * Moleculer's Prometheus reporter always listens on a port of its own. This subclass skips the
 * listener so the gateway can answer `GET /metrics` on its own port; set METRICS_PORT to also
 * get the stock standalone listener (for nodes that run no gateway).
 */
import type { ServiceBroker } from "moleculer";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the reporter classes are not in moleculer's typings
const { MetricReporters } = require("moleculer");
const Prometheus = MetricReporters.Prometheus;
const Base = MetricReporters.Base;

export class PrometheusTextReporter extends Prometheus {
	constructor(opts: Record<string, unknown> = {}) {
		super(opts);
	}
	init(registry: unknown) {
		// BaseReporter.init sets registry, broker and logger; Prometheus.init would listen.
		Base.prototype.init.call(this, registry);
	}
	stop() {
		return Promise.resolve();
	}
	/** The text format of every metric of this node. */
	render(): string {
		return this.generatePrometheusResponse();
	}
}

/** The reporter instance of a broker, if metrics are enabled. */
export function prometheusText(broker: ServiceBroker): string | null {
	const metrics = broker.metrics as { reporter?: unknown[] } | undefined;
	const reporters: unknown[] = metrics?.reporter ?? [];
	const reporter = reporters.find(r => r instanceof PrometheusTextReporter) as PrometheusTextReporter | undefined;
	return reporter ? reporter.render() : null;
}
