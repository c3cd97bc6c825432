/**
 * One device card of the overview: status, profile and node, the latest value of each datapoint
 * (stale values marked), and a live chart of the last 10 minutes of the selected datapoint.
 */
import type { Api } from "../api";
import { TimeChart } from "../chart";
import { ago, fmtValue, h } from "../lib/dom";
import type { DatapointView, DeviceView, LiveReading } from "../types";

export const CARD_WINDOW_S = 10 * 60;

/** A value older than this many seconds (and older than 3 × the device's usual spacing) is shown as stale. */
export const STALE_AFTER_S = 120;

export function isStale(ts: string | number | null | undefined, now = Date.now()): boolean {
	if (ts == null) return false;
	const t = typeof ts === "number" ? ts : Date.parse(ts);
	return now - t > STALE_AFTER_S * 1000;
}

export class DeviceCard {
	readonly id: number;
	readonly el: HTMLElement;
	data: DeviceView;
	private badge: HTMLElement;
	private alertBadge: HTMLElement;
	private sub: HTMLElement;
	private seen: HTMLElement;
	private valuesEl: HTMLElement;
	private noteEl: HTMLElement;
	private chart: TimeChart;
	private tiles = new Map<number, HTMLElement>();
	private dps = new Map<number, DatapointView>();
	private history = new Map<number, { xs: number[]; ys: number[] }>();
	private selected: number | null = null;
	private lastLive = 0;

	constructor(
		d: DeviceView,
		private readonly api: Api
	) {
		this.id = d.id;
		this.data = d;
		this.badge = h("span", { class: "badge" });
		this.alertBadge = h("span", { class: "badge alerting", hidden: true });
		this.sub = h("div", { class: "device-sub" });
		this.seen = h("div", { class: "device-seen" });
		this.valuesEl = h("div", { class: "values" });
		this.chart = new TimeChart({ windowS: CARD_WINDOW_S, height: 150 });
		this.noteEl = h("div", { class: "chart-note" });
		this.el = h(
			"article",
			{ class: "panel device", "data-device-id": d.id },
			h(
				"div",
				{ class: "device-head" },
				h(
					"div",
					{ class: "grow" },
					h("a", { class: "device-name", href: `#/devices/${d.id}` }, d.name),
					this.sub,
					this.seen
				),
				this.alertBadge,
				this.badge
			),
			this.valuesEl,
			this.chart.el,
			this.noteEl
		);
		this.update(d);
	}

	/** Sort order: alerting first, then reporting devices. */
	priority(): number {
		return (this.data.openAlerts > 0 ? 2 : 0) + (this.isReporting() ? 1 : 0);
	}

	isReporting(): boolean {
		if (this.data.status === "disconnected" || this.data.status === "error") return false;
		if (Date.now() - this.lastLive < 60_000) return true;
		return !!this.data.lastSeen && Date.now() - Date.parse(this.data.lastSeen) < 60_000;
	}

	update(d: DeviceView): void {
		this.data = { ...d };
		this.setStatus(d.status, d.nodeID ?? undefined);
		this.setOpenAlerts(d.openAlerts);
		for (const dp of d.datapoints) {
			this.dps.set(dp.id, dp);
			if (!this.tiles.has(dp.id)) this.addTile(dp);
			// A value seen live is newer than the list's; only fill tiles that have nothing newer.
			const tile = this.tiles.get(dp.id)!;
			if (tile.dataset.ts == null || (dp.ts && Date.parse(dp.ts) > Number(tile.dataset.ts)))
				this.setTile(dp.id, dp.value, dp.ts ? Date.parse(dp.ts) : null, false);
		}
		if (!d.datapoints.length && !this.tiles.size)
			this.valuesEl.replaceChildren(
				h("div", { class: "muted small" }, "No datapoints yet: this device has not reported any readings.")
			);
		if (this.selected == null && d.datapoints.length) this.select(d.datapoints[0].id);
		this.refreshStale();
	}

	/** Marks values not updated for a while as stale, and the card's "last seen". */
	refreshStale(): void {
		for (const tile of this.tiles.values()) {
			const ts = tile.dataset.ts ? Number(tile.dataset.ts) : null;
			const stale = isStale(ts);
			tile.classList.toggle("stale", stale);
			tile.title = ts ? `${stale ? "Stale: " : ""}updated ${ago(ts)}` : "No reading yet";
		}
		const last = Math.max(this.lastLive, this.data.lastSeen ? Date.parse(this.data.lastSeen) : 0);
		this.seen.textContent = last ? `last seen ${ago(last)}` : "never seen";
		this.seen.classList.toggle("stale", !last || isStale(last));
	}

	setStatus(status: string, nodeID?: string): void {
		this.data.status = status;
		if (nodeID) this.data.nodeID = nodeID;
		this.badge.className = `badge ${status}`;
		this.badge.textContent = status;
		const kind = this.data.profile ? `profile ${this.data.profile}` : this.data.type;
		this.sub.textContent = [kind, this.data.nodeID ? `on ${this.data.nodeID}` : null, `#${this.id}`]
			.filter(Boolean)
			.join(" · ");
	}

	setOpenAlerts(n: number): void {
		this.data.openAlerts = n;
		this.alertBadge.hidden = n === 0;
		this.alertBadge.textContent = n === 1 ? "1 alert" : `${n} alerts`;
	}

	private addTile(dp: DatapointView): void {
		if (!this.tiles.size) this.valuesEl.replaceChildren();
		const tile = h(
			"button",
			{
				class: "value",
				type: "button",
				"data-dp": dp.id,
				"data-label": dp.label,
				title: `Show ${dp.label} in the chart`
			},
			h("div", { class: "k" }, dp.label),
			h("div", {}, h("span", { class: "v" }, "—"), h("span", { class: "u" }, dp.unit ?? ""))
		);
		tile.addEventListener("click", () => this.select(dp.id));
		this.tiles.set(dp.id, tile);
		this.valuesEl.append(tile);
	}

	private setTile(dpId: number, value: number | null, ts: number | null, flash: boolean): void {
		const tile = this.tiles.get(dpId);
		if (!tile) return;
		const v = tile.querySelector(".v")!;
		const text = fmtValue(value, this.dps.get(dpId)?.unit, this.dps.get(dpId)?.label);
		if (v.textContent !== text) {
			v.textContent = text;
			if (flash) {
				tile.classList.remove("flash");
				void tile.offsetWidth;
				tile.classList.add("flash");
			}
		}
		if (ts != null) tile.dataset.ts = String(ts);
	}

	private select(dpId: number): void {
		this.selected = dpId;
		for (const [id, t] of this.tiles) t.classList.toggle("selected", id === dpId);
		const dp = this.dps.get(dpId);
		const s = this.history.get(dpId) ?? { xs: [], ys: [] };
		this.chart.setData(
			[{ key: String(dpId), label: dp?.label ?? "", unit: dp?.unit ?? null }],
			[{ xs: [...s.xs], ys: [...s.ys] }]
		);
		this.note();
	}

	private note(): void {
		const dp = this.selected != null ? this.dps.get(this.selected) : undefined;
		const label = dp?.label ?? "";
		const has = this.chart.hasData();
		this.noteEl.textContent = has
			? `${label}${dp?.unit ? ` (${dp.unit})` : ""}, last 10 minutes · open the device for its history`
			: `No ${label} readings in the last 10 minutes`;
		this.el.classList.toggle("no-data", !has);
	}

	/** The last 10 minutes of every datapoint, following nextCursor (a fast device has more than one page). */
	async loadHistory(): Promise<void> {
		try {
			const { items } = await this.api.all<{ ts: string; datapointId: number; value: number | null }>(
				`/api/monitoring/data/${this.id}`,
				{ from: "-10m", limit: 1000 },
				20
			);
			const byDp = new Map<number, { x: number; y: number }[]>();
			for (const it of items) {
				if (it.value == null) continue;
				let l = byDp.get(it.datapointId);
				if (!l) byDp.set(it.datapointId, (l = []));
				l.push({ x: Date.parse(it.ts) / 1000, y: it.value });
			}
			for (const [dp, points] of byDp) {
				points.sort((a, b) => a.x - b.x);
				const s = this.history.get(dp) ?? { xs: [], ys: [] };
				// Merge with anything that arrived live meanwhile.
				const merged = [...points, ...s.xs.map((x, i) => ({ x, y: s.ys[i] }))]
					.sort((a, b) => a.x - b.x)
					.filter((p, i, a) => i === 0 || p.x !== a[i - 1].x);
				this.history.set(dp, { xs: merged.map(p => p.x), ys: merged.map(p => p.y) });
			}
			if (this.selected != null) this.select(this.selected);
		} catch {
			/* the chart fills from live data */
		}
	}

	addReadings(readings: LiveReading[]): void {
		this.lastLive = Date.now();
		for (const r of readings) {
			if (!this.tiles.has(r.datapointId)) {
				this.dps.set(r.datapointId, {
					id: r.datapointId,
					label: r.label,
					unit: r.unit,
					value: r.value,
					ts: null
				});
				this.addTile(this.dps.get(r.datapointId)!);
				if (this.selected == null) this.select(r.datapointId);
			}
			let s = this.history.get(r.datapointId);
			if (!s) this.history.set(r.datapointId, (s = { xs: [], ys: [] }));
			const x = r.ts / 1000;
			if (s.xs.length && x <= s.xs[s.xs.length - 1]) continue;
			s.xs.push(x);
			s.ys.push(r.value);
			let drop = 0;
			while (drop < s.xs.length && s.xs[drop] < x - CARD_WINDOW_S) drop++;
			if (drop) {
				s.xs.splice(0, drop);
				s.ys.splice(0, drop);
			}
		}
		const latest = new Map<number, LiveReading>();
		for (const r of readings) latest.set(r.datapointId, r);
		for (const r of latest.values()) this.setTile(r.datapointId, r.value, r.ts, true);
		if (this.selected != null) {
			const sel = readings
				.filter(r => r.datapointId === this.selected)
				.map(r => ({ x: r.ts / 1000, y: r.value }));
			if (sel.length) this.chart.append(String(this.selected), sel);
		}
		this.refreshStale();
		this.note();
	}

	destroy(): void {
		this.chart.destroy();
		this.el.remove();
	}
}
