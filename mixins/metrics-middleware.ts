/**
 * Moleculer's request, event and transit metrics at the cost of a few additions per call.
 *
 * Moleculer's own Metrics middleware updates the registry on every call: five or six metrics, each
 * with a new labels object that the registry turns into a string key (hashingLabels) and looks up
 * in a Map, plus a rate per item. Over NATS that was a quarter of each node's CPU per call: the
 * mesh bench made 10.7k–12.9k calls/s with it and 16.2k–21.3k with METRICS=0 (docs/performance.md,
 * "Mesh"). This middleware takes its place (moleculer.config.ts lists Moleculer's internal
 * middlewares itself, with this one instead of "Metrics") and records the same metrics, with the
 * same names and labels, into plain per-series accumulators created once per action, caller and
 * event: a call adds to numbers it already holds. `flush()` moves the sums into the registry,
 * every second and before `/metrics` renders, so what a reporter sees is at most a second old.
 *
 * The one difference: `moleculer.transit.requests.active` and `…streams.send.active` are set to
 * the number of requests (streams) in flight; Moleculer's middleware added that number to them on
 * every packet sent, so they only grew.
 */
import { METRIC as MOLECULER_METRIC, type Context, type Middleware, type ServiceBroker } from "moleculer";

/** Moleculer's metric names and units (its typings declare only the TYPE_ constants). */
const METRIC = MOLECULER_METRIC as unknown as Record<string, string>;

/** The registry's histogram item (moleculer src/metrics/types/histogram.js); applied to only in `flush`. */
interface HistogramItem {
	count: number;
	sum: number;
	lastValue: number | null;
	timestamp: number;
	bucketValues?: Record<number, number>;
	rate?: { update(value: number): void };
}

interface HistogramMetric {
	buckets?: number[];
	labelNames: string[];
	get(labels: Labels): HistogramItem | undefined;
	observe(value: number, labels: Labels, timestamp?: number): HistogramItem;
	changed(value: unknown, labels: Labels, timestamp: number): void;
}

type Labels = Record<string, string | number | null | undefined> | null;

type Registry = ServiceBroker["metrics"] & {
	getMetric(name: string): unknown;
	increment(name: string, labels: Labels, value?: number): void;
	set(name: string, value: number, labels?: Labels): void;
};

/** A counter or a gauge's change since the last flush. */
class Sum {
	n = 0;
	/** The first flush writes even a 0 (an active-calls gauge back at 0): the series then exists, as before. */
	private written = false;
	constructor(
		readonly name: string,
		readonly labels: Labels
	) {}
	flush(registry: Registry): void {
		if (this.n === 0 && this.written) return;
		const n = this.n;
		this.n = 0;
		this.written = true;
		registry.increment(this.name, this.labels, n);
	}
}

/**
 * Observations since the last flush: count, sum, the last value and how many fell in each bucket
 * (not cumulative; `flush` adds them up as the registry keeps them, each bucket counting every value ≤ it).
 */
export class HistogramBatch {
	count = 0;
	sum = 0;
	last = 0;
	private readonly bounds: number[];
	/** inBucket[i]: values in (bounds[i-1], bounds[i]]; the last slot: above every bound. */
	private readonly inBucket: Float64Array;
	constructor(
		readonly name: string,
		readonly labels: Labels,
		private readonly metric: HistogramMetric
	) {
		this.bounds = metric.buckets ?? [];
		this.inBucket = new Float64Array(this.bounds.length + 1);
	}

	observe(value: number): void {
		this.count++;
		this.sum += value;
		this.last = value;
		// Buckets are few (Moleculer's default: 17) and sorted; most request times fall in the first ones.
		let i = 0;
		const b = this.bounds;
		while (i < b.length && value > b[i]) i++;
		this.inBucket[i]++;
	}

	flush(): void {
		if (this.count === 0) return;
		const now = Date.now();
		let item = this.metric.get(this.labels);
		if (!item) {
			// Only Moleculer's own observe creates an item (with its rate and buckets): one value through it.
			item = this.metric.observe(this.last, this.labels, now);
			this.unobserve(this.last);
			if (this.count === 0) return;
		}
		item.count += this.count;
		item.sum += this.sum;
		item.lastValue = this.last;
		item.timestamp = now;
		if (item.bucketValues) {
			let cumulative = 0;
			for (let i = 0; i < this.bounds.length; i++) {
				cumulative += this.inBucket[i];
				if (cumulative > 0) item.bucketValues[this.bounds[i]] += cumulative;
			}
		}
		item.rate?.update(item.count);
		this.metric.changed(this.last, this.labels, now);
		this.count = 0;
		this.sum = 0;
		this.inBucket.fill(0);
	}

	/** Takes one observation of `value` back out (it went to the registry already). */
	private unobserve(value: number): void {
		this.count--;
		this.sum -= value;
		let i = 0;
		while (i < this.bounds.length && value > this.bounds[i]) i++;
		this.inBucket[i]--;
	}
}

/** Every accumulator of one broker, and the flush of them all. */
export class MetricBatches {
	private readonly sums: Sum[] = [];
	private readonly histograms: HistogramBatch[] = [];
	private readonly gauges: Array<() => void> = [];

	constructor(readonly registry: Registry) {}

	sum(name: string, labels: Labels): Sum {
		const s = new Sum(name, labels);
		this.sums.push(s);
		return s;
	}

	histogram(name: string, labels: Labels): HistogramBatch {
		const h = new HistogramBatch(name, labels, this.registry.getMetric(name) as unknown as HistogramMetric);
		this.histograms.push(h);
		return h;
	}

	/** A gauge read when flushing (a size, not a count of calls). */
	gauge(read: () => void): void {
		this.gauges.push(read);
	}

	flush(): void {
		for (const s of this.sums) s.flush(this.registry);
		for (const h of this.histograms) h.flush();
		for (const g of this.gauges) g();
	}
}

/** A Map from key to accumulator, made on first use. */
function lazy<K, V>(make: (key: K) => V): (key: K) => V {
	const m = new Map<K, V>();
	return key => {
		let v = m.get(key);
		if (v === undefined) m.set(key, (v = make(key)));
		return v;
	};
}

const FLUSH_MS = 1000;
const batchesOf = new WeakMap<ServiceBroker, MetricBatches>();

/** Moves what the broker's calls recorded into its registry now (before a reporter reads it). */
export function flushMetrics(broker: ServiceBroker): void {
	batchesOf.get(broker)?.flush();
}

interface ActionSeries {
	total: Sum;
	active: Sum;
	time: HistogramBatch;
	labels: Labels;
}

type Handler = (this: unknown, ...args: unknown[]) => Promise<unknown>;
type ActionHandler = (ctx: Context) => Promise<unknown>;

/** The error labels Moleculer's middleware gives a failed call. */
function errorLabels(err: unknown) {
	const e = (err ?? {}) as { name?: string; code?: string | number; type?: string };
	return { errorName: e.name ?? null, errorCode: e.code ?? null, errorType: e.type ?? null };
}

interface TransitLike {
	pendingRequests: Map<unknown, unknown>;
	pendingReqStreams: Map<unknown, unknown>;
	pendingResStreams: Map<unknown, unknown>;
}

/**
 * Counts a call of series `s` as started, and as ended once `run()` settles: its time, the active
 * count back down, and a failure under `errorMetric` with the error's labels (rare: straight into the registry).
 */
function timed(registry: Registry, s: ActionSeries, errorMetric: string, run: () => Promise<unknown>) {
	s.total.n++;
	s.active.n++;
	const started = performance.now();
	return run().then(
		(res: unknown) => {
			s.time.observe(performance.now() - started);
			s.active.n--;
			return res;
		},
		(err: unknown) => {
			s.time.observe(performance.now() - started);
			s.active.n--;
			registry.increment(errorMetric, { ...s.labels, ...errorLabels(err) });
			throw err;
		}
	);
}

export function FleetMetricsMiddleware(broker: ServiceBroker): Middleware {
	const registry = broker.metrics as Registry;
	const enabled = () => broker.isMetricsEnabled();
	// Made now, not in created(): the broker's constructor wraps the transit's methods before that hook.
	const batches = new MetricBatches(registry);
	let timer: NodeJS.Timeout | null = null;
	const levels = lazy((level: number) => batches.sum(METRIC.MOLECULER_REQUEST_LEVELS, { level }));

	/** Request metrics of one action (local or remote), a series per calling node. */
	function wrapAction(
		type: "local" | "remote",
		action: { name: string; service?: { fullName: string } },
		next: ActionHandler
	): ActionHandler {
		const service = action.service ? action.service.fullName : null;
		const name = action.name;
		const seriesOf = lazy((caller: string | null): ActionSeries => {
			const labels = { service, action: name, caller, type };
			return {
				labels,
				total: batches.sum(METRIC.MOLECULER_REQUEST_TOTAL, labels),
				active: batches.sum(METRIC.MOLECULER_REQUEST_ACTIVE, labels),
				time: batches.histogram(METRIC.MOLECULER_REQUEST_TIME, labels)
			};
		});
		return function fleetMetrics(ctx: Context) {
			levels(ctx.level).n++;
			return timed(registry, seriesOf(ctx.caller ?? null), METRIC.MOLECULER_REQUEST_ERROR_TOTAL, () => next(ctx));
		};
	}

	/** Packets and bytes a transporter sent or received (the data is the call's second argument). */
	function countPackets(way: "SENT" | "RECEIVED", next: Handler): Handler {
		const packets = batches.sum(METRIC[`MOLECULER_TRANSPORTER_PACKETS_${way}_TOTAL`], null);
		const bytes = batches.sum(METRIC[`MOLECULER_TRANSPORTER_PACKETS_${way}_BYTES`], null);
		return function fleetMetrics(this: unknown, ...args: unknown[]) {
			packets.n++;
			bytes.n += (args[1] as { length?: number } | undefined)?.length ?? 0;
			return next.apply(this, args);
		};
	}

	function wrapEmit(metricName: string, next: Handler): Handler {
		const of = lazy((event: string) => batches.sum(metricName, { event }));
		return function fleetMetrics(this: unknown, ...args: unknown[]) {
			of(args[0] as string).n++;
			return next.apply(this, args);
		};
	}

	const mw = {
		name: "Metrics",

		created() {
			if (!enabled()) return;
			batchesOf.set(broker, batches);
			registerMetrics(registry);
		},

		started() {
			if (!enabled()) return;
			timer = setInterval(() => batches.flush(), FLUSH_MS);
			timer.unref();
		},

		stopped() {
			if (timer) clearInterval(timer);
			timer = null;
			if (enabled()) batches.flush();
		},

		localAction(next: ActionHandler, action: { name: string; service?: { fullName: string } }) {
			return enabled() ? wrapAction("local", action, next) : next;
		},

		remoteAction(next: ActionHandler, action: { name: string; service?: { fullName: string } }) {
			return enabled() ? wrapAction("remote", action, next) : next;
		},

		localEvent(next: Handler, event: { group?: string; service?: { name: string } }) {
			if (!enabled()) return next;
			const service = event.service ? event.service.name : null;
			const group = event.group || service;
			const seriesOf = lazy((key: string) => {
				const [eventName, caller] = key.split("\0");
				const labels = { service, event: eventName, group, caller: caller || null };
				return {
					labels,
					total: batches.sum(METRIC.MOLECULER_EVENT_RECEIVED_TOTAL, labels),
					active: batches.sum(METRIC.MOLECULER_EVENT_RECEIVED_ACTIVE, labels),
					time: batches.histogram(METRIC.MOLECULER_EVENT_RECEIVED_TIME, labels)
				};
			});
			return function fleetMetrics(this: unknown, ...args: unknown[]): Promise<unknown> {
				const ctx = args[0] as Context;
				const s = seriesOf(`${ctx.eventName}\0${ctx.caller ?? ""}`);
				// The handler's own arguments, as Moleculer passes them.
				return timed(registry, s, METRIC.MOLECULER_EVENT_RECEIVED_ERROR_TOTAL, () => next.apply(this, args));
			};
		},

		emit(next: Handler) {
			return enabled() ? wrapEmit(METRIC.MOLECULER_EVENT_EMIT_TOTAL, next) : next;
		},

		broadcast(next: Handler) {
			return enabled() ? wrapEmit(METRIC.MOLECULER_EVENT_BROADCAST_TOTAL, next) : next;
		},

		broadcastLocal(next: Handler) {
			return enabled() ? wrapEmit(METRIC.MOLECULER_EVENT_BROADCASTLOCAL_TOTAL, next) : next;
		},

		transitPublish(this: TransitLike, next: Handler) {
			if (!enabled()) return next;
			// Moleculer calls this hook with the transit as `this`.
			const pending = () => this;
			batches.gauge(() => {
				const transit = pending();
				registry.set(METRIC.MOLECULER_TRANSIT_REQUESTS_ACTIVE, transit.pendingRequests.size);
				registry.set(
					METRIC.MOLECULER_TRANSIT_STREAMS_SEND_ACTIVE,
					transit.pendingReqStreams.size + transit.pendingResStreams.size
				);
			});
			const of = lazy((type: string) => batches.sum(METRIC.MOLECULER_TRANSIT_PUBLISH_TOTAL, { type }));
			return function fleetMetrics(this: unknown, ...args: unknown[]) {
				of((args[0] as { type: string }).type).n++;
				return next.apply(this, args);
			};
		},

		transitMessageHandler(next: Handler) {
			if (!enabled()) return next;
			const of = lazy((type: string) => batches.sum(METRIC.MOLECULER_TRANSIT_RECEIVE_TOTAL, { type }));
			return function fleetMetrics(this: unknown, ...args: unknown[]) {
				of(args[0] as string).n++;
				return next.apply(this, args);
			};
		},

		transporterSend(next: Handler) {
			return enabled() ? countPackets("SENT", next) : next;
		},

		transporterReceive(next: Handler) {
			return enabled() ? countPackets("RECEIVED", next) : next;
		}
	};
	return mw as unknown as Middleware;
}

/** The metrics Moleculer's Metrics middleware registers, with its names, types, labels and units. */
function registerMetrics(registry: Registry): void {
	const M = METRIC;
	const request = ["service", "action", "type", "caller"];
	const event = ["service", "group", "event", "caller"];
	const errors = ["errorName", "errorCode", "errorType"];
	const defs: Array<[string, string, string[] | undefined, string, string, boolean?]> = [
		[M.MOLECULER_REQUEST_TOTAL, M.TYPE_COUNTER, request, M.UNIT_REQUEST, "Number of requests", true],
		[M.MOLECULER_REQUEST_ACTIVE, M.TYPE_GAUGE, request, M.UNIT_REQUEST, "Number of active requests"],
		[
			M.MOLECULER_REQUEST_ERROR_TOTAL,
			M.TYPE_COUNTER,
			[...request, ...errors],
			M.UNIT_REQUEST,
			"Number of request errors",
			true
		],
		[
			M.MOLECULER_REQUEST_TIME,
			M.TYPE_HISTOGRAM,
			request,
			M.UNIT_MILLISECONDS,
			"Request times in milliseconds",
			true
		],
		[M.MOLECULER_REQUEST_LEVELS, M.TYPE_COUNTER, ["level"], M.UNIT_REQUEST, "Number of requests by context level"],
		[
			M.MOLECULER_EVENT_EMIT_TOTAL,
			M.TYPE_COUNTER,
			["event", "groups"],
			M.UNIT_EVENT,
			"Number of emitted events",
			true
		],
		[
			M.MOLECULER_EVENT_BROADCAST_TOTAL,
			M.TYPE_COUNTER,
			["event", "groups"],
			M.UNIT_EVENT,
			"Number of broadcast events",
			true
		],
		[
			M.MOLECULER_EVENT_BROADCASTLOCAL_TOTAL,
			M.TYPE_COUNTER,
			["event", "groups"],
			M.UNIT_EVENT,
			"Number of local broadcast events",
			true
		],
		[M.MOLECULER_EVENT_RECEIVED_TOTAL, M.TYPE_COUNTER, event, M.UNIT_EVENT, "Number of received events", true],
		[M.MOLECULER_EVENT_RECEIVED_ACTIVE, M.TYPE_GAUGE, event, M.UNIT_REQUEST, "Number of active event executions"],
		[
			M.MOLECULER_EVENT_RECEIVED_ERROR_TOTAL,
			M.TYPE_COUNTER,
			[...event, ...errors],
			M.UNIT_REQUEST,
			"Number of event execution errors",
			true
		],
		[
			M.MOLECULER_EVENT_RECEIVED_TIME,
			M.TYPE_HISTOGRAM,
			event,
			M.UNIT_MILLISECONDS,
			"Execution time of events in milliseconds",
			true
		],
		[
			M.MOLECULER_TRANSIT_PUBLISH_TOTAL,
			M.TYPE_COUNTER,
			["type"],
			M.UNIT_PACKET,
			"Number of published packets",
			true
		],
		[
			M.MOLECULER_TRANSIT_RECEIVE_TOTAL,
			M.TYPE_COUNTER,
			["type"],
			M.UNIT_PACKET,
			"Number of received packets",
			true
		],
		[M.MOLECULER_TRANSIT_REQUESTS_ACTIVE, M.TYPE_GAUGE, undefined, M.UNIT_REQUEST, "Number of active requests"],
		[
			M.MOLECULER_TRANSIT_STREAMS_SEND_ACTIVE,
			M.TYPE_GAUGE,
			undefined,
			M.UNIT_STREAM,
			"Number of active sent streams"
		],
		[
			M.MOLECULER_TRANSPORTER_PACKETS_SENT_TOTAL,
			M.TYPE_COUNTER,
			undefined,
			M.UNIT_PACKET,
			"Number of sent packets",
			true
		],
		[
			M.MOLECULER_TRANSPORTER_PACKETS_SENT_BYTES,
			M.TYPE_COUNTER,
			undefined,
			M.UNIT_BYTE,
			"Number of sent bytes",
			true
		],
		[
			M.MOLECULER_TRANSPORTER_PACKETS_RECEIVED_TOTAL,
			M.TYPE_COUNTER,
			undefined,
			M.UNIT_PACKET,
			"Number of received packets",
			true
		],
		[
			M.MOLECULER_TRANSPORTER_PACKETS_RECEIVED_BYTES,
			M.TYPE_COUNTER,
			undefined,
			M.UNIT_BYTE,
			"Number of received bytes",
			true
		]
	];
	for (const [name, type, labelNames, unit, description, rate] of defs)
		registry.register({
			name,
			type,
			...(labelNames ? { labelNames } : {}),
			unit,
			description,
			...(rate ? { rate } : {}),
			...(type === M.TYPE_HISTOGRAM ? { quantiles: true, buckets: true } : {})
		} as never);
}
