/**
 * Devices: the fleet as a compact list (or cards) with search, filters by status, profile, node
 * and owner, sorting and grouping; `#/devices/<id>` is one device's page (views/device.ts).
 * Filter, sort and grouping are kept in the URL (`#/devices?status=streaming&group=node`), so a
 * filtered list can be bookmarked and shared.
 */
import { ago, fmtValue, h, select } from "../lib/dom";
import type { DeviceView, LiveReading } from "../types";
import { isStale } from "./device-card";
import { renderDevicePage } from "./device";
import type { View, ViewContext } from "./view";

export const devicesView: View = {
	path: "devices",
	title: "Devices",
	nav: "user",
	order: 20,
	icon: "▦",
	render(el, ctx, params) {
		if (params[0] && /^\d+$/.test(params[0])) return renderDevicePage(el, ctx, Number(params[0]));
		new DeviceList(el, ctx);
	}
};

interface ListState {
	q: string;
	status: string;
	profile: string;
	node: string;
	owner: string;
	sort: string;
	group: string;
}
const DEFAULTS: ListState = { q: "", status: "", profile: "", node: "", owner: "", sort: "name", group: "" };

function readState(): ListState {
	const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
	const s = { ...DEFAULTS };
	for (const k of Object.keys(DEFAULTS) as (keyof ListState)[]) s[k] = query.get(k) ?? DEFAULTS[k];
	return s;
}

function writeState(s: ListState): void {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(s)) if (v && v !== DEFAULTS[k as keyof ListState]) q.set(k, v);
	const qs = q.toString();
	// replaceState: typing in the search box does not add a history entry per key.
	history.replaceState(null, "", `#/devices${qs ? `?${qs}` : ""}`);
}

const STATUS_ORDER = ["error", "disconnected", "detected", "identified", "configured", "streaming"];

export function statusBadge(status: string): HTMLElement {
	return h("span", { class: `badge ${status}` }, status);
}

class DeviceList {
	private devices: DeviceView[] = [];
	private state = readState();
	private listEl = h(
		"div",
		{ class: "device-list", id: "device-list" },
		h("div", { class: "panel empty" }, "Loading devices…")
	);
	private countEl = h("span", { class: "muted small", id: "device-count" });
	private controls: HTMLElement;
	private selects: Record<string, HTMLSelectElement> = {};
	private lastLive = new Map<number, number>();
	private users = new Map<number, string>();

	constructor(
		el: HTMLElement,
		private readonly ctx: ViewContext
	) {
		const search = h("input", {
			type: "search",
			name: "q",
			placeholder: "Search name, id, profile, node…",
			value: this.state.q,
			"aria-label": "Search devices"
		});
		search.addEventListener("input", () => this.set({ q: search.value }));
		this.controls = h("div", { class: "toolbar" }, search);
		for (const key of ["status", "profile", "node", "owner"] as const) {
			if (key === "owner" && !ctx.user.admin) continue;
			const sel = select(key, [["", `${key[0].toUpperCase()}${key.slice(1)}: all`]], this.state[key], {
				"aria-label": `Filter by ${key}`
			});
			sel.addEventListener("change", () => this.set({ [key]: sel.value }));
			this.selects[key] = sel;
			this.controls.append(sel);
		}
		const sort = select(
			"sort",
			[
				["name", "Sort: name"],
				["status", "Sort: status"],
				["lastSeen", "Sort: last seen"],
				["alerts", "Sort: open alerts"],
				["id", "Sort: id"]
			],
			this.state.sort,
			{ "aria-label": "Sort devices" }
		);
		sort.addEventListener("change", () => this.set({ sort: sort.value }));
		const group = select(
			"group",
			[
				["", "Group: none"],
				["status", "Group: status"],
				["profile", "Group: profile"],
				["node", "Group: node"],
				...(ctx.user.admin ? ([["owner", "Group: owner"]] as [string, string][]) : [])
			],
			this.state.group,
			{ "aria-label": "Group devices" }
		);
		group.addEventListener("change", () => this.set({ group: group.value }));
		this.controls.append(sort, group);
		el.append(h("div", { class: "view-head" }, h("h1", {}, "Devices"), this.countEl), this.controls, this.listEl);
		ctx.on("readings", (msg: { deviceId: number; readings: LiveReading[] }) => {
			const d = this.devices.find(x => x.id === msg.deviceId);
			if (!d) return;
			this.lastLive.set(d.id, Date.now());
			for (const r of msg.readings) {
				const dp = d.datapoints.find(p => p.id === r.datapointId);
				if (dp) {
					dp.value = r.value;
					dp.ts = new Date(r.ts).toISOString();
				}
			}
			d.lastSeen = new Date().toISOString();
			const row = this.listEl.querySelector(`[data-device-id="${d.id}"] .row-values`);
			if (row) row.replaceWith(this.values(d));
		});
		ctx.on("device.status", (msg: { deviceId: number; status: string }) => {
			const d = this.devices.find(x => x.id === msg.deviceId);
			if (d && d.status !== msg.status) {
				d.status = msg.status;
				this.render();
			}
		});
		ctx.every(10_000, () => this.refresh());
	}

	private set(change: Partial<ListState>): void {
		this.state = { ...this.state, ...change };
		writeState(this.state);
		this.render();
	}

	/** The owner as administrators read it: the user's e-mail. */
	private owner(d: DeviceView): string {
		return d.owner == null ? "(none)" : (this.users.get(Number(d.owner)) ?? `user #${d.owner}`);
	}

	private async refresh(): Promise<void> {
		if (this.ctx.user.admin && !this.users.size) {
			const users = await this.ctx.api
				.all<{ id: number; email: string }>("/api/users", { limit: 100 })
				.catch(() => ({ items: [] }));
			for (const u of users.items) this.users.set(u.id, u.email);
		}
		this.devices = (await this.ctx.api.all<DeviceView>("/api/monitoring/devices")).items;
		this.ctx.live.join(this.devices.map(d => `device:${d.id}`));
		const fill = (key: string, values: (string | null | undefined)[]) => {
			const sel = this.selects[key];
			if (!sel) return;
			const opts = [...new Set(values.filter((v): v is string => !!v))].sort();
			const keep = sel.value || this.state[key as keyof ListState];
			sel.replaceChildren(sel.options[0], ...opts.map(v => h("option", { value: v, selected: v === keep }, v)));
		};
		fill(
			"status",
			this.devices.map(d => d.status)
		);
		fill(
			"profile",
			this.devices.map(d => d.profile ?? "(none)")
		);
		fill(
			"node",
			this.devices.map(d => d.nodeID ?? "(none)")
		);
		fill(
			"owner",
			this.devices.map(d => this.owner(d))
		);
		this.render();
	}

	private matches(d: DeviceView): boolean {
		const s = this.state;
		if (s.status && d.status !== s.status) return false;
		if (s.profile && (d.profile ?? "(none)") !== s.profile) return false;
		if (s.node && (d.nodeID ?? "(none)") !== s.node) return false;
		if (s.owner && this.owner(d) !== s.owner) return false;
		if (s.q) {
			const hay = [
				d.name,
				`#${d.id}`,
				String(d.id),
				d.profile,
				d.nodeID,
				d.type,
				this.ctx.user.admin ? this.owner(d) : "",
				...d.datapoints.map(p => p.label)
			]
				.join(" ")
				.toLowerCase();
			if (
				!s.q
					.toLowerCase()
					.split(/\s+/)
					.filter(Boolean)
					.every(w => hay.includes(w))
			)
				return false;
		}
		return true;
	}

	private sorted(list: DeviceView[]): DeviceView[] {
		const by = this.state.sort;
		const seen = (d: DeviceView) => (d.lastSeen ? Date.parse(d.lastSeen) : 0);
		return [...list].sort((a, b) => {
			if (by === "status")
				return STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || a.name.localeCompare(b.name);
			if (by === "lastSeen") return seen(b) - seen(a);
			if (by === "alerts") return b.openAlerts - a.openAlerts || a.name.localeCompare(b.name);
			if (by === "id") return a.id - b.id;
			return a.name.localeCompare(b.name) || a.id - b.id;
		});
	}

	private render(): void {
		const shown = this.sorted(this.devices.filter(d => this.matches(d)));
		this.countEl.textContent =
			shown.length === this.devices.length
				? `${this.devices.length} devices`
				: `${shown.length} of ${this.devices.length} devices`;
		if (!this.devices.length) {
			this.listEl.replaceChildren(
				h(
					"div",
					{ class: "panel empty" },
					"No devices yet. Plug in a board, or start with SIMULATE=1 to see virtual devices."
				)
			);
			return;
		}
		if (!shown.length) {
			this.listEl.replaceChildren(h("div", { class: "panel empty" }, "No device matches these filters."));
			return;
		}
		const key = this.state.group;
		const groups = new Map<string, DeviceView[]>();
		for (const d of shown) {
			const g = !key
				? ""
				: key === "owner"
					? this.owner(d)
					: String((key === "node" ? d.nodeID : key === "status" ? d.status : d.profile) ?? "(none)");
			let l = groups.get(g);
			if (!l) groups.set(g, (l = []));
			l.push(d);
		}
		const parts: HTMLElement[] = [];
		for (const [g, list] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
			if (key) parts.push(h("h2", { class: "group-head" }, `${g} · ${list.length}`));
			parts.push(h("ul", { class: "panel rows" }, ...list.map(d => this.row(d))));
		}
		this.listEl.replaceChildren(...parts);
	}

	private values(d: DeviceView): HTMLElement {
		const dps = d.datapoints.filter(p => p.value != null).slice(0, 4);
		if (!d.datapoints.length) return h("span", { class: "row-values muted small" }, "no datapoints yet");
		if (!dps.length) return h("span", { class: "row-values muted small" }, "no readings yet");
		return h(
			"span",
			{ class: "row-values" },
			...dps.map(p =>
				h(
					"span",
					{ class: `rv ${isStale(p.ts) ? "stale" : ""}`, title: `${p.label}, ${ago(p.ts)}` },
					h("span", { class: "k" }, p.label),
					" ",
					fmtValue(p.value, p.unit, p.label),
					p.unit ? ` ${p.unit}` : ""
				)
			)
		);
	}

	private row(d: DeviceView): HTMLElement {
		const last = Math.max(this.lastLive.get(d.id) ?? 0, d.lastSeen ? Date.parse(d.lastSeen) : 0);
		return h(
			"li",
			{ class: "row", "data-device-id": d.id },
			h(
				"a",
				{ class: "row-main", href: `#/devices/${d.id}` },
				h("span", { class: "row-name" }, d.name),
				h(
					"span",
					{ class: "row-sub" },
					[
						d.profile ?? d.type,
						d.nodeID ? `on ${d.nodeID}` : null,
						this.ctx.user.admin && d.owner != null ? `owner ${this.owner(d)}` : null,
						`#${d.id}`
					]
						.filter(Boolean)
						.join(" · ")
				)
			),
			this.values(d),
			h("span", { class: `row-seen ${!last || isStale(last) ? "stale" : ""}` }, last ? ago(last) : "never"),
			d.openAlerts ? h("span", { class: "badge alerting" }, `${d.openAlerts}`) : h("span", {}),
			statusBadge(d.status)
		);
	}
}
