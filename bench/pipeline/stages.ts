/**
 * Per-stage timing of the pipeline bench (BENCH_STAGES=1): for every frame, the time since its
 * publish when it reached each stage, grouped by publish time (100 ms buckets in the first
 * seconds, then per second), plus the sink's writes, GC pauses and event-loop lag of the
 * same buckets. Diagnostics only: the hooks wrap the services' methods in this process and
 * add some CPU of their own (a second unpack of every iot.raw message).
 *
 *   recv  ingest received the MQTT message      raw   its iot.raw batch was accepted by JetStream
 *   dec   decoder handler started (delivered)   rdy   its readings were decoded (send called)
 *   tel   telemetry.readings accepted           snk   sink handler started (delivered)
 *   wr    its COPY started                      com   committed
 */
import { PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import type { ServiceBroker } from "moleculer";
import { rawMessagesOf } from "../../services/pipeline-decode/decode-batch";
import { CHANNELS, readingsOf } from "../../services/shared/contracts";

export const STAGES = ["recv", "raw", "dec", "rdy", "tel", "snk", "wr", "com"] as const;
type Stage = (typeof STAGES)[number];

/** Publish time of a bench frame: its payload starts `{"timestamp":<epoch ms>,`. */
function tsOfPayload(payload: Buffer): number {
	return Number(payload.toString("latin1", 13, 26));
}

function tsOfReading(r: unknown): number | null {
	const ts = (r as { ts?: unknown })?.ts;
	if (typeof ts === "number") return ts;
	if (typeof ts === "string") return Date.parse(ts);
	return null;
}

/** The readings' times of a telemetry.readings payload (any shape readingsOf reads; else none). */
function readingTimes(payload: unknown): number[] {
	let readings: unknown[];
	try {
		readings = readingsOf(payload);
	} catch {
		return [];
	}
	const out: number[] = [];
	for (const r of readings) {
		const ts = tsOfReading(r);
		if (ts != null) out.push(ts);
	}
	return out;
}

export class StageTrace {
	private base = 0;
	/** Per stage: pairs (publish ts - base, latency ms), as small integers. */
	private readonly samples = new Map<Stage, number[]>(STAGES.map(s => [s, []]));
	private readonly writes: { at: number; rows: number; ms: number; oldest: number }[] = [];
	private readonly gcs: { at: number; ms: number; kind: number }[] = [];
	private readonly lags: { at: number; ms: number; cpu: number }[] = [];
	private readonly lookups: { at: number; ms: number; macs: number }[] = [];
	private observer: PerformanceObserver | null = null;
	private lagTimer: NodeJS.Timeout | null = null;

	record(stage: Stage, ts: number, now = Date.now()): void {
		if (!this.base) this.base = ts;
		this.samples.get(stage)!.push(ts - this.base, now - ts);
	}

	/** Wraps the services of `broker` (ingest, decode, sink) and the broker's channel sends. */
	attach(broker: ServiceBroker): void {
		const ingest = broker.getLocalService("pipeline-ingest") as unknown as {
			onMqttMessage(topic: string, payload: Buffer): Promise<unknown>;
		};
		const onMessage = ingest.onMqttMessage;
		ingest.onMqttMessage = (topic, payload) => {
			const ts = tsOfPayload(payload);
			this.record("recv", ts);
			const p = onMessage.call(ingest, topic, payload);
			void p.then(
				() => this.record("raw", ts),
				() => undefined
			);
			return p;
		};
		const decode = broker.getLocalService("pipeline-decode") as unknown as {
			decodeRaw(payload: { messages?: unknown; packed?: unknown }, keepAlive?: unknown): Promise<void>;
		};
		const decodeRaw = decode.decodeRaw;
		decode.decodeRaw = (payload, keepAlive) => {
			const now = Date.now();
			try {
				for (const m of rawMessagesOf(payload))
					if (Buffer.isBuffer(m.payload)) this.record("dec", tsOfPayload(m.payload), now);
			} catch {
				// not a bench batch
			}
			return decodeRaw.call(decode, payload, keepAlive);
		};
		const lookup = (decode as unknown as { lookupControllers(macs: string[], k?: unknown): Promise<unknown> })
			.lookupControllers;
		(decode as unknown as { lookupControllers: typeof lookup }).lookupControllers = async (macs, k) => {
			const at = Date.now();
			try {
				return await lookup.call(decode, macs, k);
			} finally {
				this.lookups.push({ at, ms: Date.now() - at, macs: macs.length });
			}
		};
		const send = broker.sendToChannel.bind(broker);
		broker.sendToChannel = ((name: string, payload: unknown, opts?: unknown) => {
			if (name !== CHANNELS.telemetryReadings) return send(name, payload, opts as never);
			const times = readingTimes(payload);
			const now = Date.now();
			for (const ts of times) this.record("rdy", ts, now);
			const p = send(name, payload, opts as never);
			return p.then(r => {
				const at = Date.now();
				for (const ts of times) this.record("tel", ts, at);
				return r;
			});
		}) as typeof broker.sendToChannel;
		const sink = broker.getLocalService("pipeline-sink") as unknown as {
			store(payload: unknown, keepAlive?: unknown): Promise<void>;
		};
		const store = sink.store;
		sink.store = (payload, keepAlive) => {
			const now = Date.now();
			for (const ts of readingTimes(payload)) this.record("snk", ts, now);
			return store.call(sink, payload, keepAlive);
		};
		this.observer = new PerformanceObserver(list => {
			for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[])
				this.gcs.push({
					at: Math.round(performance.timeOrigin + e.startTime),
					ms: e.duration,
					kind: e.detail?.kind ?? 0
				});
		});
		this.observer.observe({ entryTypes: ["gc"] });
		let last = Date.now();
		let lastCpu = process.cpuUsage();
		this.lagTimer = setInterval(() => {
			const now = Date.now();
			// CPU of this process (every thread: JIT, GC, pg/NATS I/O) since the last tick, in ms.
			const cpu = process.cpuUsage(lastCpu);
			lastCpu = process.cpuUsage();
			this.lags.push({ at: now, ms: now - last - 10, cpu: (cpu.user + cpu.system) / 1000 });
			last = now;
		}, 10);
	}

	/** Called around the sink's write: `rows` publish times, start and end of the COPY. */
	write(times: number[], started: number, ended: number): void {
		let oldest = Infinity;
		for (const ts of times) {
			this.record("wr", ts, started);
			this.record("com", ts, ended);
			if (ts < oldest) oldest = ts;
		}
		this.writes.push({ at: started, rows: times.length, ms: ended - started, oldest });
	}

	detach(): void {
		this.observer?.disconnect();
		if (this.lagTimer) clearInterval(this.lagTimer);
	}

	/** Prints the tables: per bucket of publish time, p50 / p99 of the time since publish at each stage. */
	print(): void {
		const bucketOf = (rel: number) => (rel < 3000 ? Math.floor(rel / 100) : 30 + Math.floor((rel - 3000) / 1000));
		const label = (b: number) =>
			b < 30 ? `${(b * 100).toString().padStart(5)} ms` : `${(3 + (b - 30)).toString().padStart(5)} s `;
		const byStage = new Map<Stage, Map<number, number[]>>();
		for (const s of STAGES) {
			const m = new Map<number, number[]>();
			const arr = this.samples.get(s)!;
			for (let i = 0; i < arr.length; i += 2) {
				const b = bucketOf(arr[i]);
				let l = m.get(b);
				if (!l) m.set(b, (l = []));
				l.push(arr[i + 1]);
			}
			byStage.set(s, m);
		}
		const buckets = [...byStage.get("recv")!.keys()].sort((a, b) => a - b);
		const pct = (l: number[] | undefined, p: number) => {
			if (!l || l.length === 0) return "-";
			const s = Float64Array.from(l).sort();
			return String(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
		};
		const bucketStart = (b: number) => this.base + (b < 30 ? b * 100 : 3000 + (b - 30) * 1000);
		const bucketEnd = (b: number) => bucketStart(b) + (b < 30 ? 100 : 1000);
		// Writes, GC and lag are by wall time, bucketed as publish times are.
		const inWall = <T extends { at: number }>(list: T[], b: number) =>
			list.filter(x => x.at >= bucketStart(b) && x.at < bucketEnd(b));
		for (const p of [50, 99]) {
			console.log(`\n  p${p} ms since publish at each stage, by publish time (and, by wall time, writes/gc/lag)`);
			console.log(
				"  publish   frames " +
					STAGES.map(s => s.padStart(6)).join("") +
					"  writes rows/ms-max   gc-ms(max)  lag-max  cpu-ms"
			);
			for (const b of buckets) {
				const w = inWall(this.writes, b);
				const g = inWall(this.gcs, b);
				const lag = inWall(this.lags, b);
				console.log(
					`  ${label(b)} ${String(byStage.get("recv")!.get(b)?.length ?? 0).padStart(7)} ` +
						STAGES.map(s => pct(byStage.get(s)!.get(b), p).padStart(6)).join("") +
						`  ${String(w.length).padStart(3)} ${String(w.reduce((a, x) => a + x.rows, 0)).padStart(6)}/` +
						`${String(Math.max(0, ...w.map(x => x.ms))).padEnd(5)}` +
						`  ${g
							.reduce((a, x) => a + x.ms, 0)
							.toFixed(0)
							.padStart(5)}(${Math.max(0, ...g.map(x => x.ms)).toFixed(0)})` +
						`  ${String(Math.max(0, ...lag.map(x => x.ms))).padStart(5)}` +
						`  ${lag
							.reduce((a, x) => a + x.cpu, 0)
							.toFixed(0)
							.padStart(6)}`
				);
			}
		}
		const ms = Float64Array.from(this.writes.map(w => w.ms)).sort();
		const rows = Float64Array.from(this.writes.map(w => w.rows)).sort();
		const q = (a: Float64Array, p: number) => a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];
		console.log(
			`\n  sink writes: ${this.writes.length}; rows p50 ${q(rows, 50)} p99 ${q(rows, 99)} max ` +
				`${q(rows, 100)}; ms p50 ${q(ms, 50)} p99 ${q(ms, 99)} max ${q(ms, 100)}`
		);
		const first = (list: { at: number; ms: number }[]) =>
			list
				.slice(0, 12)
				.map(x => `${x.at - this.base}+${x.ms}`)
				.join(" ");
		console.log(`  first writes (ms after the first publish + ms): ${first(this.writes)}`);
		console.log(`  first metadata lookups: ${first(this.lookups)}`);
		const lk = Float64Array.from(this.lookups.map(l => l.ms)).sort();
		console.log(`  lookups: ${lk.length}, ms p50 ${q(lk, 50)} p99 ${q(lk, 99)} max ${q(lk, 100)}`);
		const gcMs = Float64Array.from(this.gcs.map(g => g.ms)).sort();
		console.log(
			`  gc: ${this.gcs.length} pauses, total ${gcMs.reduce((a, b) => a + b, 0).toFixed(0)} ms, p99 ` +
				`${q(gcMs, 99)?.toFixed(1)} ms, max ${q(gcMs, 100)?.toFixed(1)} ms; over 20 ms: ` +
				this.gcs
					.filter(g => g.ms > 20)
					.map(g => `${((g.at - this.base) / 1000).toFixed(1)}s ${g.ms.toFixed(0)}ms(kind ${g.kind})`)
					.join(", ")
		);
		const lagMs = this.lags.filter(l => l.at >= this.base).map(l => l.ms);
		const lagSorted = Float64Array.from(lagMs).sort();
		console.log(
			`  event-loop lag (10 ms timer): p99 ${q(lagSorted, 99)} ms, max ${q(lagSorted, 100)} ms; over 50 ms: ` +
				this.lags
					.filter(l => l.at >= this.base && l.ms > 50)
					.map(l => `${((l.at - this.base) / 1000).toFixed(1)}s ${l.ms}`)
					.join(", ")
		);
	}
}
