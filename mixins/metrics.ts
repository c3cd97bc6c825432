/**
 * Prometheus exposition without a second HTTP server, and histograms as Prometheus means them.
 *
 * Moleculer's Prometheus reporter always listens on a port of its own. PrometheusTextReporter
 * skips the listener so the gateway can answer `GET /metrics` on its own port; set METRICS_PORT
 * to also get the standalone listener (ListeningPrometheusReporter, for nodes without a gateway).
 *
 * Histograms: the broker keeps no quantiles (moleculer.config.ts, `defaultQuantiles: null`:
 * Moleculer's quantiles keep every observed value of the last 60 s, 900,000 numbers per action at
 * 15,000 calls/s, whose growth made the old generation fill and a full GC stop the node every
 * few seconds; docs/performance.md, "Mesh"). Without quantiles Moleculer's reporter would print
 * only the `_bucket` lines, so these reporters print each histogram themselves: buckets, `_sum`
 * and `_count` (what Prometheus' histogram_quantile and rate(_sum)/rate(_count) read), and the
 * quantile lines of a histogram that still asks for its own (an explicit `quantiles` list).
 */
import type { ServiceBroker } from "moleculer";
import { flushMetrics } from "./metrics-middleware";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the reporter classes are not in moleculer's typings
const { MetricReporters } = require("moleculer");
const Prometheus = MetricReporters.Prometheus;
const Base = MetricReporters.Base;

/** What a histogram's snapshot item holds (moleculer src/metrics/types/histogram.js). */
interface HistogramItem {
	labels: Record<string, unknown>;
	count: number;
	sum: number;
	buckets?: Record<string, number>;
	quantiles?: Record<string, number>;
	min?: number;
	mean?: number;
	variance?: number;
	stdDev?: number;
	max?: number;
	rate?: number;
}

interface Metric {
	name: string;
	type: string;
	description?: string;
	unit?: string;
	snapshot(): HistogramItem[];
}

const val = (v: unknown) => (v == null ? "NaN" : String(v));

/** The stock reporter (it listens on its port) with the histogram lines above. */
export class ListeningPrometheusReporter extends Prometheus {
	/** While set, the stock renderer skips histograms: renderHistogram prints them. */
	private skipHistograms = false;

	constructor(opts: Record<string, unknown> = {}) {
		super(opts);
	}

	matchMetricName(name: string): boolean {
		if (this.skipHistograms && this.registry.getMetric(name)?.type === "histogram") return false;
		return super.matchMetricName(name);
	}

	generatePrometheusResponse(): string {
		// The calls since the last second's flush too (mixins/metrics-middleware.ts batches them).
		flushMetrics(this.broker);
		this.skipHistograms = true;
		let text: string;
		try {
			text = super.generatePrometheusResponse();
		} finally {
			this.skipHistograms = false;
		}
		const blocks: string[] = [];
		for (const metric of (this.registry.store as Map<string, Metric>).values()) {
			if (metric.type === "histogram" && this.matchMetricName(metric.name))
				blocks.push(this.renderHistogram(metric));
		}
		return [text, ...blocks.filter(Boolean)].join("\n");
	}

	private renderHistogram(metric: Metric): string {
		const items = metric.snapshot();
		if (items.length === 0) return "";
		const name = this.formatMetricName(metric.name).replace(/[.-]/g, "_");
		const desc = metric.description ?? metric.name + (metric.unit ? ` (${metric.unit})` : "");
		const out = [`# HELP ${name} ${desc}`, `# TYPE ${name} histogram`];
		for (const item of items) {
			const labels = this.labelsToStr(item.labels);
			if (item.buckets) {
				for (const le of Object.keys(item.buckets))
					out.push(`${name}_bucket${this.labelsToStr(item.labels, { le })} ${val(item.buckets[le])}`);
				out.push(`${name}_bucket${this.labelsToStr(item.labels, { le: "+Inf" })} ${val(item.count)}`);
			}
			out.push(`${name}_sum${labels} ${val(item.sum)}`, `${name}_count${labels} ${val(item.count)}`);
			if (item.quantiles) {
				// As Moleculer prints them, for a histogram registered with its own quantile list.
				for (const q of Object.keys(item.quantiles))
					out.push(`${name}${this.labelsToStr(item.labels, { quantile: q })} ${val(item.quantiles[q])}`);
				out.push(
					`${name}_min${labels} ${val(item.min)}`,
					`${name}_mean${labels} ${val(item.mean)}`,
					`${name}_variance${labels} ${val(item.variance)}`,
					`${name}_stddev${labels} ${val(item.stdDev)}`,
					`${name}_max${labels} ${val(item.max)}`
				);
			}
			if (item.rate) out.push(`${name}_rate${labels} ${val(item.rate)}`);
		}
		out.push("");
		return out.join("\n");
	}
}

/** The text for the gateway's `/metrics`, without a listener of its own. */
export class PrometheusTextReporter extends ListeningPrometheusReporter {
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
