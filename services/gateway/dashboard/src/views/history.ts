/**
 * A device's history chart: a range picker (15 min, 1 h, 24 h, 7 d, custom), the datapoints to
 * show (several on one chart), zoom by selection (finer data is fetched for the zoomed span),
 * CSV export of what is shown, and the live tail appended while the range ends now.
 *
 * Up to an hour comes from the raw readings (GET /api/monitoring/data/:id, every page followed
 * through nextCursor); longer spans from bucketed statistics (GET /api/monitoring/stats with a
 * bucket giving at most ~500 points), so a 7-day chart is one small query.
 */
import type { Api } from "../api";
import { TimeChart, type SeriesDef } from "../chart";
import { LOCALE, download, fmtTime, h, toast } from "../lib/dom";
import { RAW_MAX_S, pickBucket } from "../lib/time-series";
import type { DatapointView, LiveReading, ReadingRow, StatsView } from "../types";
import { errorMessage } from "../../../../shared/error-message";

const RANGES: [string, string, number][] = [
	["15m", "15 min", 15 * 60],
	["1h", "1 hour", 3600],
	["24h", "24 hours", 86_400],
	["7d", "7 days", 7 * 86_400]
];
function toLocalInput(ms: number): string {
	const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
	return d.toISOString().slice(0, 16);
}

export class HistoryPanel {
	readonly el: HTMLElement;
	private chart: TimeChart;
	private range = "1h";
	private custom: [number, number] | null = null;
	private zoom: [number, number] | null = null;
	private shown = new Set<number>();
	private dps: DatapointView[] = [];
	private noteEl = h("div", { class: "chart-note", id: "history-note" });
	private dpEl = h("div", { class: "dp-toggles", role: "group", "aria-label": "Datapoints on the chart" });
	private customEl: HTMLElement;
	private rangeButtons = new Map<string, HTMLButtonElement>();
	private resolution: "raw" | string = "raw";
	private loading = 0;
	private refreshTimer = 0;

	constructor(
		private readonly api: Api,
		private readonly deviceId: number
	) {
		this.chart = new TimeChart({ height: 260, onZoom: r => this.onZoom(r) });
		const picker = h("div", { class: "range-picker", role: "group", "aria-label": "Time range" });
		for (const [key, label] of [
			...RANGES.map(([k, l]) => [k, l] as [string, string]),
			["custom", "Custom"] as [string, string]
		]) {
			const b = h("button", { class: "btn seg", type: "button", "data-range": key }, label);
			b.addEventListener("click", () => this.setRange(key));
			this.rangeButtons.set(key, b);
			picker.append(b);
		}
		const now = Date.now();
		const from = h("input", {
			type: "datetime-local",
			name: "from",
			value: toLocalInput(now - 86_400_000),
			"aria-label": "From"
		});
		const to = h("input", { type: "datetime-local", name: "to", value: toLocalInput(now), "aria-label": "To" });
		const apply = h("button", { class: "btn", type: "button" }, "Apply");
		apply.addEventListener("click", () => {
			const a = Date.parse(from.value);
			const b = Date.parse(to.value);
			if (!(a < b)) return toast("'From' must be before 'To'.", "error");
			this.custom = [a / 1000, b / 1000];
			this.zoom = null;
			void this.load();
		});
		this.customEl = h(
			"div",
			{ class: "custom-range", hidden: true },
			h("label", {}, "From ", from),
			h("label", {}, "To ", to),
			apply
		);
		const csv = h("button", { class: "btn", type: "button", "data-export": "csv" }, "Export CSV");
		csv.addEventListener("click", () => this.exportCsv());
		const reset = h("button", { class: "btn", type: "button", "data-zoom-reset": "", hidden: true }, "Reset zoom");
		reset.addEventListener("click", () => this.chart.resetZoom());
		this.el = h(
			"section",
			{ class: "panel history", "aria-label": "History" },
			h(
				"div",
				{ class: "history-head" },
				h("h2", {}, "History"),
				picker,
				h("span", { class: "spacer" }),
				reset,
				csv
			),
			this.customEl,
			this.dpEl,
			this.chart.el,
			this.noteEl
		);
		this.setRange("1h", false);
	}

	setDatapoints(dps: DatapointView[]): void {
		const fresh = dps.some(d => !this.dps.find(x => x.id === d.id));
		this.dps = dps;
		if (!this.shown.size && dps.length) this.shown.add(dps[0].id);
		if (!fresh) return;
		this.dpEl.replaceChildren(
			...dps.map(dp => {
				const cb = h("input", { type: "checkbox", name: "dp", value: dp.id, checked: this.shown.has(dp.id) });
				cb.addEventListener("change", () => {
					if (cb.checked) this.shown.add(dp.id);
					else this.shown.delete(dp.id);
					void this.load();
				});
				return h(
					"label",
					{ class: "dp-toggle", "data-dp": dp.id },
					cb,
					dp.label,
					dp.unit ? h("span", { class: "muted" }, ` ${dp.unit}`) : null
				);
			})
		);
		void this.load();
	}

	private setRange(key: string, load = true): void {
		this.range = key;
		this.zoom = null;
		for (const [k, b] of this.rangeButtons) b.classList.toggle("active", k === key);
		this.customEl.hidden = key !== "custom";
		if (key === "custom" && !this.custom) this.custom = [Date.now() / 1000 - 86_400, Date.now() / 1000];
		if (load) void this.load();
	}

	/** The window asked for (s): relative ranges end now. */
	private window(): [number, number] {
		if (this.zoom) return this.zoom;
		if (this.range === "custom" && this.custom) return this.custom;
		const span = RANGES.find(r => r[0] === this.range)?.[2] ?? 3600;
		const now = Date.now() / 1000;
		return [now - span, now];
	}

	private endsNow(): boolean {
		return !this.zoom && this.range !== "custom";
	}

	private onZoom(r: [number, number] | null): void {
		this.zoom = r;
		this.el.querySelector<HTMLElement>("[data-zoom-reset]")!.hidden = !r;
		void this.load();
	}

	async load(): Promise<void> {
		clearTimeout(this.refreshTimer);
		const dps = this.dps.filter(d => this.shown.has(d.id));
		const [from, to] = this.window();
		const seq = ++this.loading;
		const span = to - from;
		const defs: SeriesDef[] = dps.map(d => ({ key: String(d.id), label: d.label, unit: d.unit }));
		if (!dps.length) {
			this.chart.setData([], [], [from, to]);
			this.noteEl.textContent = this.dps.length
				? "Pick a datapoint to chart."
				: "This device has no datapoints yet, so there is nothing to chart.";
			return;
		}
		this.noteEl.textContent = "Loading…";
		let data: { xs: number[]; ys: (number | null)[] }[];
		let note: string;
		try {
			if (span <= RAW_MAX_S) {
				this.resolution = "raw";
				const query: Record<string, string | number> = {
					from: new Date(from * 1000).toISOString(),
					to: new Date(to * 1000).toISOString(),
					limit: 1000
				};
				if (dps.length === 1) query.datapoint = dps[0].id;
				const { items, truncated } = await this.api.all<ReadingRow>(
					`/api/monitoring/data/${this.deviceId}`,
					query,
					40
				);
				const by = new Map<number, { x: number; y: number }[]>(dps.map(d => [d.id, []]));
				for (const it of items)
					if (it.value != null) by.get(it.datapointId)?.push({ x: Date.parse(it.ts) / 1000, y: it.value });
				data = dps.map(d => {
					const pts = (by.get(d.id) ?? []).sort((a, b) => a.x - b.x);
					return { xs: pts.map(p => p.x), ys: pts.map(p => p.y) };
				});
				note =
					`${items.length.toLocaleString(LOCALE)} readings` +
					(truncated ? " (first 40,000 only: zoom in for the rest)" : "");
			} else {
				const [bucket, bucketS] = pickBucket(span);
				this.resolution = bucket;
				const stats = await this.api.get<StatsView>("/api/monitoring/stats", {
					device: this.deviceId,
					from: new Date(from * 1000).toISOString(),
					to: new Date(to * 1000).toISOString(),
					bucket
				});
				data = dps.map(d => {
					const s = stats.datapoints.find(x => x.datapointId === d.id);
					const b = (s?.buckets ?? []).filter(x => x.avg != null);
					return { xs: b.map(x => Date.parse(x.start) / 1000 + bucketS / 2), ys: b.map(x => x.avg) };
				});
				for (const def of defs) def.gapS = bucketS * 2.5;
				note = `averages per ${bucket}`;
			}
		} catch (err) {
			if (seq === this.loading) this.noteEl.textContent = `History is not available: ${errorMessage(err)}`;
			return;
		}
		if (seq !== this.loading) return;
		this.chart.setData(defs, data, [from, to]);
		const empty = data.every(d => d.xs.length === 0);
		this.noteEl.textContent = empty
			? `No readings between ${fmtTime(from * 1000)} and ${fmtTime(to * 1000)}.`
			: `${fmtTime(from * 1000)} – ${this.endsNow() ? "now" : fmtTime(to * 1000)} · ${note} · drag ` +
				`across the chart to zoom${this.zoom ? ", double-click to reset" : ""}`;
		// Bucketed ranges that end now are fetched again as new buckets fill; raw ones get the live tail.
		if (this.endsNow() && this.resolution !== "raw")
			this.refreshTimer = window.setTimeout(() => void this.load(), 30_000);
	}

	/** Live readings of this device: appended while the range ends now at raw resolution. */
	addReadings(readings: LiveReading[]): void {
		if (!this.endsNow() || this.resolution !== "raw") return;
		const by = new Map<number, { x: number; y: number }[]>();
		for (const r of readings) {
			if (!this.shown.has(r.datapointId)) continue;
			let l = by.get(r.datapointId);
			if (!l) by.set(r.datapointId, (l = []));
			l.push({ x: r.ts / 1000, y: r.value });
		}
		for (const [id, pts] of by) this.chart.append(String(id), pts);
	}

	private exportCsv(): void {
		const csv = this.chart.toCsv();
		const lines = csv.trim().split("\n").length - 1;
		if (!lines) return toast("Nothing to export in this range.", "error");
		const [from, to] = this.window();
		const stamp = (s: number) => new Date(s * 1000).toISOString().slice(0, 16).replace(/[:T]/g, "");
		download(`device-${this.deviceId}-${stamp(from)}-${stamp(to)}.csv`, csv);
		toast(`Exported ${lines} rows.`);
	}

	destroy(): void {
		clearTimeout(this.refreshTimer);
		this.loading++;
		this.chart.destroy();
	}
}
