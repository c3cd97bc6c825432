/**
 * TimeChart: a uPlot time series chart for the dashboard, used by the device cards (live tail)
 * and the device page (history).
 *
 * - several series on one chart, each with its own colour, label and unit (one y axis per unit,
 *   at most two; further units share the second);
 * - gaps are drawn as gaps: a null is put between two points further apart than the series'
 *   expected spacing, so an outage is a hole, not a straight line across it;
 * - a fixed x range when one is given (the chart shows "last hour" as a whole hour even when the
 *   data covers ten minutes); a live tail slides that range;
 * - zoom by dragging a selection (onZoom lets the owner fetch finer buckets), double click resets;
 * - a hover readout with the time and each series' value and unit;
 * - colours from the CSS variables, redrawn when the colour scheme changes (the grid follows dark mode);
 * - labels never clipped: the y axis is as wide as its widest label, measured with the axis font.
 */
import uPlot from "uplot";
import { LOCALE, cssVar, fmtValue, h, tickLabels } from "./lib/dom";
import { DAY, MIN, HOUR, medianStep, pad, timeTickLabels, withGaps } from "./lib/time-series";

export interface SeriesDef {
	key: string;
	label: string;
	unit: string | null;
	/** Seconds between two points beyond which the line breaks (default: 3 × the median spacing, at least 5 s). */
	gapS?: number;
}
interface SeriesData {
	def: SeriesDef;
	xs: number[];
	ys: (number | null)[];
}

const PALETTE = ["--accent", "--series-2", "--series-3", "--series-4", "--series-5", "--series-6"];
const FONT = "11px system-ui, sans-serif";
/** Tick steps in seconds: includes 2 and 3 minutes, so a five-minute window gets more than one tick. */
const TIME_INCRS = [
	1,
	2,
	5,
	10,
	15,
	30,
	MIN,
	2 * MIN,
	3 * MIN,
	5 * MIN,
	10 * MIN,
	15 * MIN,
	30 * MIN,
	HOUR,
	2 * HOUR,
	3 * HOUR,
	6 * HOUR,
	12 * HOUR,
	DAY,
	2 * DAY,
	7 * DAY,
	14 * DAY,
	30 * DAY,
	90 * DAY,
	365 * DAY
];

let measureCtx: CanvasRenderingContext2D | null = null;
function textWidth(s: string): number {
	measureCtx ??= document.createElement("canvas").getContext("2d");
	if (!measureCtx) return s.length * 7;
	measureCtx.font = FONT;
	return measureCtx.measureText(s).width;
}

export interface TimeChartOptions {
	height?: number;
	/** Zoom by selection; called with the selected range (s), or null when reset. */
	onZoom?: (range: [number, number] | null) => void;
	/** Live tail: keep at most this many seconds (the range slides with the newest point). */
	windowS?: number;
	/** Show the hover readout line under the chart. */
	readout?: boolean;
}

export class TimeChart {
	readonly el: HTMLElement;
	private plotEl: HTMLElement;
	private readoutEl: HTMLElement;
	private plot: uPlot | null = null;
	private series: SeriesData[] = [];
	private range: [number, number] | null = null;
	private zoomed: [number, number] | null = null;
	private resizeObserver: ResizeObserver;
	private media = window.matchMedia("(prefers-color-scheme: dark)");
	private onScheme = () => this.rebuild();
	private height: number;

	constructor(private readonly opts: TimeChartOptions = {}) {
		this.height = opts.height ?? 150;
		this.plotEl = h("div", { class: "chart-plot" });
		this.readoutEl = h("div", { class: "chart-readout", "aria-live": "off" });
		this.el = h("div", { class: "chart" }, this.plotEl, opts.readout === false ? null : this.readoutEl);
		this.resizeObserver = new ResizeObserver(() => this.resize());
		this.resizeObserver.observe(this.el);
		this.media.addEventListener("change", this.onScheme);
	}

	/** Replaces every series. `range` (s) fixes the x axis to what the user asked for. */
	setData(
		defs: SeriesDef[],
		data: { xs: number[]; ys: (number | null)[] }[],
		range: [number, number] | null = null
	): void {
		const sameShape =
			defs.length === this.series.length &&
			defs.every((d, i) => d.key === this.series[i].def.key && d.unit === this.series[i].def.unit);
		this.series = defs.map((def, i) => ({ def, xs: data[i]?.xs ?? [], ys: data[i]?.ys ?? [] }));
		this.range = range;
		this.zoomed = null;
		if (sameShape && this.plot) this.update();
		else this.rebuild();
	}

	/** Appends live points of one series (out-of-order points are dropped: the history fetch has them). */
	append(key: string, points: { x: number; y: number }[]): void {
		const s = this.series.find(x => x.def.key === key);
		if (!s) return;
		for (const p of points) {
			if (s.xs.length && p.x <= s.xs[s.xs.length - 1]) continue;
			s.xs.push(p.x);
			s.ys.push(p.y);
		}
		if (this.opts.windowS) {
			const newest = s.xs[s.xs.length - 1] ?? 0;
			let drop = 0;
			while (drop < s.xs.length && s.xs[drop] < newest - this.opts.windowS) drop++;
			if (drop) {
				s.xs.splice(0, drop);
				s.ys.splice(0, drop);
			}
		}
		if (this.range && !this.opts.windowS) {
			// A history range ending "now" slides with the live tail.
			const newest = Math.max(...points.map(p => p.x));
			if (newest > this.range[1]) this.range = [this.range[0] + (newest - this.range[1]), newest];
		}
		this.update();
	}

	hasData(): boolean {
		return this.series.some(s => s.ys.some(y => y != null));
	}

	/** The points shown (inside the zoomed or given range), one row per time, for CSV export. */
	visibleRows(): { header: string[]; rows: (string | number)[][] } {
		const [lo, hi] = this.zoomed ?? this.range ?? [-Infinity, Infinity];
		const byTime = new Map<number, (number | null)[]>();
		this.series.forEach((s, i) => {
			s.xs.forEach((x, j) => {
				if (x < lo || x > hi || s.ys[j] == null) return;
				let row = byTime.get(x);
				if (!row) byTime.set(x, (row = this.series.map(() => null)));
				row[i] = s.ys[j];
			});
		});
		const header = ["time", ...this.series.map(s => (s.def.unit ? `${s.def.label} (${s.def.unit})` : s.def.label))];
		const rows = [...byTime.entries()]
			.sort((a, b) => a[0] - b[0])
			.map(([x, vals]) => [new Date(x * 1000).toISOString(), ...vals.map(v => (v == null ? "" : v))]);
		return { header, rows };
	}

	toCsv(): string {
		const { header, rows } = this.visibleRows();
		const esc = (v: string | number) =>
			typeof v === "string" && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
		return [header, ...rows].map(r => r.map(esc).join(",")).join("\n") + "\n";
	}

	/** Clears a zoom by selection. */
	resetZoom(): void {
		this.zoomed = null;
		this.update();
		this.opts.onZoom?.(null);
	}

	destroy(): void {
		this.resizeObserver.disconnect();
		this.media.removeEventListener("change", this.onScheme);
		this.plot?.destroy();
		this.plot = null;
		this.el.remove();
	}

	resize(): void {
		if (!this.plot) {
			if (this.el.clientWidth > 0 && this.series.length) this.rebuild();
			return;
		}
		const w = this.plotEl.clientWidth;
		if (w > 0 && Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: this.height });
	}

	// ---- internals ----

	private aligned(): uPlot.AlignedData {
		if (!this.series.length) return [[]];
		let gaps = 0;
		const tables = this.series.map(s => {
			const gap = Math.max(s.def.gapS ?? 5, medianStep(s.xs) * 3);
			const g = withGaps(s.xs, s.ys, gap);
			gaps += g.xs.length - s.xs.length;
			return [g.xs, g.ys] as uPlot.AlignedData;
		});
		// What is drawn, for tests and for anyone inspecting the page.
		this.el.dataset.series = String(this.series.length);
		this.el.dataset.points = String(this.series.reduce((n, s) => n + s.xs.length, 0));
		this.el.dataset.gaps = String(gaps);
		return tables.length === 1 ? tables[0] : uPlot.join(tables);
	}

	private xRange(): [number, number] | null {
		if (this.zoomed) return this.zoomed;
		if (this.opts.windowS) {
			const newest = Math.max(0, ...this.series.map(s => s.xs[s.xs.length - 1] ?? 0));
			return newest ? [newest - this.opts.windowS, newest] : null;
		}
		return this.range;
	}

	private update(): void {
		if (!this.plot) return this.rebuild();
		const data = this.aligned();
		this.plot.setData(data, !this.xRange());
		const r = this.xRange();
		if (r) this.plot.setScale("x", { min: r[0], max: r[1] });
	}

	private units(): string[] {
		const u: string[] = [];
		for (const s of this.series) if (!u.includes(s.def.unit ?? "")) u.push(s.def.unit ?? "");
		return u;
	}

	private rebuild(): void {
		this.plot?.destroy();
		this.plot = null;
		const width = this.plotEl.clientWidth;
		if (!this.series.length || width <= 0) return;
		const muted = cssVar("--muted");
		const grid = cssVar("--line");
		this.el.dataset.grid = grid;
		const units = this.units();
		const scaleOf = (unit: string | null) => (units.indexOf(unit ?? "") === 0 ? "y" : "y2");
		const yRange = (_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax => {
			if (min == null || max == null) return [0, 1];
			if (max > min) return [min - (max - min) * 0.08, max + (max - min) * 0.08];
			const d = Math.abs(max) * 0.01 || 1;
			return [max - d, max + d];
		};
		const axis = {
			stroke: muted,
			grid: { stroke: grid, width: 1 },
			ticks: { stroke: grid, width: 1 },
			font: FONT,
			labelFont: FONT
		};
		const ySize = (_u: uPlot, values: string[]) =>
			values?.length ? Math.ceil(Math.max(...values.map(textWidth))) + 14 : 30;
		const axes: uPlot.Axis[] = [
			{
				...axis,
				space: (u: uPlot) => ((u.scales.x.max ?? 0) - (u.scales.x.min ?? 0) > DAY ? 100 : 80),
				size: 28,
				incrs: TIME_INCRS,
				values: (u: uPlot, ticks: number[]) =>
					timeTickLabels(ticks, (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0))
			},
			{
				...axis,
				scale: "y",
				space: 28,
				values: (_u: uPlot, t: number[]) => tickLabels(t),
				size: ySize,
				...(units.length > 1 && units[0] ? { label: units[0], labelSize: 16, labelGap: 0 } : {})
			}
		];
		// A second unit gets its own axis on the right; each axis then says its unit.
		if (units.length > 1)
			axes.push({
				...axis,
				scale: "y2",
				side: 1,
				space: 28,
				grid: { show: false },
				values: (_u: uPlot, t: number[]) => tickLabels(t),
				size: ySize,
				...(units[1] ? { label: units.slice(1).join(", "), labelSize: 16, labelGap: 0 } : {})
			});
		this.plot = new uPlot(
			{
				width,
				height: this.height,
				padding: [10, units.length > 1 ? 4 : 14, 0, 4],
				legend: { show: false },
				cursor: { drag: { x: !!this.opts.onZoom, y: false, setScale: false }, points: { size: 6 } },
				scales: {
					x: {
						time: true,
						range: (_u: uPlot, min: number, max: number) => this.xRange() ?? [Math.min(min, max - 60), max]
					},
					y: { range: yRange },
					y2: { range: yRange }
				},
				axes,
				series: [
					{},
					...this.series.map((s, i) => {
						const color = cssVar(PALETTE[i % PALETTE.length]);
						return {
							label: s.def.label,
							scale: scaleOf(s.def.unit),
							stroke: color,
							width: 2,
							fill: this.series.length === 1 ? `${color}22` : undefined,
							points: { show: false },
							spanGaps: false
						};
					})
				],
				hooks: {
					setSelect: [
						(u: uPlot) => {
							if (u.select.width < 5) return;
							const min = u.posToVal(u.select.left, "x");
							const max = u.posToVal(u.select.left + u.select.width, "x");
							u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
							this.zoomed = [min, max];
							u.setScale("x", { min, max });
							this.opts.onZoom?.([min, max]);
						}
					],
					setCursor: [(u: uPlot) => this.showReadout(u)]
				}
			},
			this.aligned(),
			this.plotEl
		);
		this.plot.over.addEventListener("dblclick", () => {
			if (this.zoomed) this.resetZoom();
		});
		this.plot.over.addEventListener("mouseleave", () => this.readoutEl.replaceChildren());
		const r = this.xRange();
		if (r) this.plot.setScale("x", { min: r[0], max: r[1] });
	}

	private showReadout(u: uPlot): void {
		const idx = u.cursor.idx;
		if (idx == null) {
			this.readoutEl.replaceChildren();
			return;
		}
		const x = u.data[0][idx];
		const d = new Date(x * 1000);
		const parts: Node[] = [
			h(
				"span",
				{ class: "t" },
				`${d.toLocaleDateString(LOCALE)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
			)
		];
		this.series.forEach((s, i) => {
			const v = u.data[i + 1]?.[idx];
			const color = cssVar(PALETTE[i % PALETTE.length]);
			parts.push(
				h(
					"span",
					{ class: "s" },
					h("i", { style: `background:${color}` }),
					`${s.def.label} `,
					h("b", {}, fmtValue(v as number | null, s.def.unit, s.def.label)),
					s.def.unit ? ` ${s.def.unit}` : ""
				)
			);
		});
		this.readoutEl.replaceChildren(...parts);
	}
}
