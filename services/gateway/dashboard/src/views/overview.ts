/**
 * Overview (the home view): summary tiles, a card per device with live values and a 10-minute
 * chart, open and recent alerts with Acknowledge, and the mesh nodes.
 */
import { ALERTS_ROOM, deviceRoom } from "../../../../shared/contracts/live";
import { h } from "../lib/dom";
import type { AlertView, DeviceView, NodeView } from "../types";
import { alertItem } from "./alerts-list";
import { DeviceCard } from "./device-card";
import type { View, ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export const overviewView: View = {
	path: "",
	title: "Overview",
	nav: "user",
	order: 10,
	icon: "◉",
	render(el, ctx) {
		new Overview(el, ctx);
	}
};

class Overview {
	private cards = new Map<number, DeviceCard>();
	private alerts = new Map<number, AlertView>();
	private nodes: NodeView[] = [];
	private tiles: Record<string, HTMLElement> = {};
	private devicesEl = h(
		"div",
		{ class: "devices", id: "devices" },
		h("div", { class: "panel empty" }, "Loading devices…")
	);
	private alertsEl = h("ul", { class: "alerts", id: "alerts" });
	private nodesEl = h("ul", { class: "nodes", id: "nodes" });

	constructor(
		el: HTMLElement,
		private readonly ctx: ViewContext
	) {
		for (const [k, label] of [
			["devices", "Devices"],
			["streaming", "Reporting now"],
			["alerts", "Open alerts"],
			["nodes", "Mesh nodes"]
		]) {
			this.tiles[k] = h(
				"a",
				{
					class: "tile",
					"data-tile": k,
					href: k === "alerts" ? "#/alerts" : k === "nodes" ? "#/mesh" : "#/devices"
				},
				h("div", { class: "n" }, "–"),
				h("div", { class: "l" }, label)
			);
		}
		el.append(
			h("section", { class: "summary", "aria-label": "Summary" }, ...Object.values(this.tiles)),
			h(
				"div",
				{ class: "columns" },
				h(
					"section",
					{ class: "area-devices", "aria-label": "Devices" },
					h("h2", {}, "Devices"),
					this.devicesEl
				),
				h(
					"section",
					{ class: "area-alerts", "aria-label": "Alerts" },
					h("h2", {}, h("a", { href: "#/alerts" }, "Alerts")),
					h("div", { class: "panel" }, this.alertsEl)
				),
				h(
					"section",
					{ class: "area-nodes", "aria-label": "Mesh" },
					h("h2", {}, h("a", { href: "#/mesh" }, "Mesh nodes")),
					h("div", { class: "panel" }, this.nodesEl)
				)
			)
		);
		ctx.onCleanup(() => {
			for (const c of this.cards.values()) c.destroy();
			this.cards.clear();
		});
		ctx.on("readings", msg => {
			this.cards.get(msg.deviceId)?.addReadings(msg.readings);
			this.updateSummary();
		});
		ctx.on("device.status", msg => {
			this.cards.get(msg.deviceId)?.setStatus(msg.status, msg.nodeID);
			this.updateSummary();
		});
		ctx.on("alert", a => {
			this.alerts.set(a.id, a);
			this.renderAlerts();
		});
		// Admins get every alert; for others the join is refused and alerts come per device.
		if (ctx.user.admin) ctx.live.join([ALERTS_ROOM]);
		ctx.every(10_000, () => this.refreshDevices());
		ctx.every(10_000, () => this.refreshNodes());
		ctx.every(30_000, () => this.refreshAlerts());
		ctx.every(15_000, () => {
			this.renderAlerts();
			for (const c of this.cards.values()) c.refreshStale();
		});
	}

	private setTile(key: string, n: number, alerting = false): void {
		const t = this.tiles[key];
		t.querySelector(".n")!.textContent = String(n);
		t.classList.toggle("alerting", alerting);
	}

	private updateSummary(): void {
		const cards = [...this.cards.values()];
		this.setTile("devices", cards.length);
		this.setTile("streaming", cards.filter(d => d.isReporting()).length);
		const open = [...this.alerts.values()].filter(a => a.open).length;
		this.setTile("alerts", open, open > 0);
		this.setTile("nodes", this.nodes.filter(n => n.available).length);
	}

	private async refreshDevices(): Promise<void> {
		let list: DeviceView[];
		try {
			list = (await this.ctx.api.all<DeviceView>("/api/monitoring/devices")).items;
		} catch (err) {
			this.devicesEl.replaceChildren(
				h("div", { class: "panel empty" }, `Devices are not available right now: ${errorMessage(err)}`)
			);
			throw err;
		}
		const fresh: number[] = [];
		const seen = new Set<number>();
		for (const d of list) {
			seen.add(d.id);
			const card = this.cards.get(d.id);
			if (card) card.update(d);
			else {
				this.cards.set(d.id, new DeviceCard(d, this.ctx.api));
				fresh.push(d.id);
			}
		}
		for (const [id, card] of this.cards) {
			if (!seen.has(id)) {
				card.destroy();
				this.cards.delete(id);
			}
		}
		const cards = [...this.cards.values()].sort((a, b) => b.priority() - a.priority() || a.id - b.id);
		if (!cards.length) {
			this.devicesEl.replaceChildren(
				h(
					"div",
					{ class: "panel empty" },
					"No devices yet. Plug in a board, or start with SIMULATE=1 to see virtual devices."
				)
			);
		} else {
			this.devicesEl.replaceChildren(...cards.map(c => c.el));
		}
		this.ctx.live.join(fresh.map(deviceRoom));
		for (const id of fresh) void this.cards.get(id)?.loadHistory();
		this.updateSummary();
	}

	private async refreshAlerts(): Promise<void> {
		try {
			const [open, recent] = await Promise.all([
				this.ctx.api.page<AlertView>("/api/monitoring/alerts", { status: "open", limit: 100 }),
				this.ctx.api.page<AlertView>("/api/monitoring/alerts", { status: "all", limit: 30 })
			]);
			this.alerts.clear();
			for (const a of [...recent.items, ...open.items]) this.alerts.set(a.id, a);
			this.renderAlerts();
		} catch (err) {
			this.alertsEl.replaceChildren(
				h("li", { class: "empty" }, `Alerts are not available: ${errorMessage(err)}`)
			);
			throw err;
		}
	}

	private renderAlerts(): void {
		const list = [...this.alerts.values()]
			.sort((a, b) => Number(b.open) - Number(a.open) || b.id - a.id)
			.slice(0, 40);
		if (!list.length) this.alertsEl.replaceChildren(h("li", { class: "empty" }, "No alerts. All quiet."));
		else
			this.alertsEl.replaceChildren(
				...list.map(a =>
					alertItem(a, this.ctx, updated => {
						this.alerts.set(updated.id, updated);
						this.renderAlerts();
					})
				)
			);
		for (const c of this.cards.values()) c.setOpenAlerts(list.filter(a => a.open && a.deviceId === c.id).length);
		this.updateSummary();
	}

	private async refreshNodes(): Promise<void> {
		this.nodes = (await this.ctx.api.page<NodeView>("/api/nodes")).items;
		this.nodesEl.replaceChildren(
			...this.nodes
				.sort((a, b) => Number(b.available) - Number(a.available) || a.id.localeCompare(b.id))
				.map(n =>
					h(
						"li",
						{ class: `node ${n.available ? "" : "down"}`, "data-node": n.id },
						h(
							"div",
							{ class: "node-head" },
							h("span", { class: "dot" }),
							n.id,
							n.local ? h("span", { class: "chip" }, "this node") : null
						),
						h("div", { class: "chips" }, ...n.services.map(s => h("span", { class: "chip" }, s)))
					)
				)
		);
		this.updateSummary();
	}
}
