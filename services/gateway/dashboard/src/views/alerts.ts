/**
 * Alerts: filter by state, severity and device, the history page by page, acknowledge with a
 * comment, and the threshold rules (create, edit, disable, delete).
 */
import { h, select } from "../lib/dom";
import type { AlertView, DeviceView } from "../types";
import { alertItem } from "./alerts-list";
import { rulesPanel } from "./rules";
import type { View, ViewContext } from "./view";

export const alertsView: View = {
	path: "alerts",
	title: "Alerts",
	nav: "user",
	order: 30,
	icon: "⚠",
	render(el, ctx) {
		new AlertsPage(el, ctx);
	}
};

const PAGE = 50;

class AlertsPage {
	private listEl = h("ul", { class: "alerts", id: "alert-history" });
	private moreBtn = h("button", { class: "btn", type: "button", hidden: true }, "Older alerts");
	private countEl = h("span", { class: "muted small" });
	private status: HTMLSelectElement;
	private severity: HTMLSelectElement;
	private device: HTMLSelectElement;
	private items: AlertView[] = [];
	private next: string | null = null;
	private seq = 0;

	constructor(
		el: HTMLElement,
		private readonly ctx: ViewContext
	) {
		this.status = select(
			"status",
			[
				["all", "All alerts"],
				["open", "Open"],
				["unacknowledged", "Not acknowledged"],
				["cleared", "Cleared"]
			],
			"all",
			{ "aria-label": "Alert state" }
		);
		this.severity = select(
			"severity",
			[
				["", "Any severity"],
				["critical", "critical"],
				["warning", "warning"],
				["info", "info"]
			],
			"",
			{ "aria-label": "Severity" }
		);
		this.device = select("device", [["", "Any device"]], "", { "aria-label": "Device" });
		for (const s of [this.status, this.severity, this.device]) s.addEventListener("change", () => void this.load());
		this.moreBtn.addEventListener("click", () => void this.load(true));
		const rules = rulesPanel(ctx, {});
		el.append(
			h("div", { class: "view-head" }, h("h1", {}, "Alerts"), this.countEl),
			h("div", { class: "toolbar" }, this.status, this.severity, this.device),
			h("div", { class: "panel" }, this.listEl),
			h("div", { class: "more" }, this.moreBtn),
			rules.el
		);
		ctx.api
			.all<DeviceView>("/api/monitoring/devices")
			.then(({ items }) =>
				this.device.append(
					...items
						.sort((a, b) => a.name.localeCompare(b.name))
						.map(d => h("option", { value: d.id }, `${d.name} (#${d.id})`))
				)
			)
			.catch(() => undefined);
		if (ctx.user.admin) ctx.live.join(["alerts"]);
		ctx.on("alert", (a: AlertView) => {
			const i = this.items.findIndex(x => x.id === a.id);
			if (i >= 0) this.items[i] = a;
			else if (this.accepts(a)) this.items.unshift(a);
			this.render();
		});
		void this.load();
		void rules.load();
	}

	private accepts(a: AlertView): boolean {
		const s = this.status.value;
		if (s === "open" && !a.open) return false;
		if (s === "cleared" && a.open) return false;
		if (s === "unacknowledged" && a.acknowledgedAt) return false;
		if (this.severity.value && a.severity !== this.severity.value) return false;
		if (this.device.value && a.deviceId !== Number(this.device.value)) return false;
		return true;
	}

	private async load(more = false): Promise<void> {
		const seq = ++this.seq;
		const query: Record<string, string | number | undefined> = {
			status: this.status.value,
			severity: this.severity.value || undefined,
			device: this.device.value || undefined,
			limit: PAGE
		};
		if (more && this.next) query.cursor = this.next;
		const page = await this.ctx.api.page<AlertView>("/api/monitoring/alerts", query);
		if (seq !== this.seq) return;
		this.items = more ? [...this.items, ...page.items] : page.items;
		this.next = page.nextCursor;
		this.moreBtn.hidden = !page.nextCursor;
		this.render(page.total);
	}

	private render(total?: number): void {
		this.countEl.textContent = total != null ? `${this.items.length} of ${total}` : `${this.items.length} shown`;
		this.listEl.replaceChildren(
			...(this.items.length
				? this.items.map(a =>
						alertItem(
							a,
							this.ctx,
							u => {
								const i = this.items.findIndex(x => x.id === u.id);
								if (i >= 0) this.items[i] = u;
								this.render();
							},
							{ comment: true }
						)
					)
				: [h("li", { class: "empty" }, "No alerts match.")])
		);
	}
}
