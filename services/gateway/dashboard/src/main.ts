/**
 * fleetmesh dashboard: login, mesh nodes and their services, devices with status and live
 * values, a live chart per device (uPlot), alerts with acknowledge. Plain DOM, no framework;
 * bundled by services/gateway/dashboard/build.ts (esbuild).
 */
import uPlot from "uplot";
import { io, type Socket } from "socket.io-client";
import "uplot/dist/uPlot.min.css";
import "./style.css";

// ---- types of the API payloads (docs/monitoring.md) --------------------------------------

interface DatapointView {
	id: number;
	label: string;
	unit: string | null;
	value: number | null;
	ts: string | null;
}
interface DeviceView {
	id: number;
	name: string;
	type: string;
	profile: string | null;
	status: string;
	nodeID: string | null;
	lastSeen: string | null;
	openAlerts: number;
	datapoints: DatapointView[];
}
interface AlertView {
	id: number;
	kind: string;
	deviceId: number;
	device: string;
	datapoint: string | null;
	severity: string;
	message: string;
	raisedAt: string;
	clearedAt: string | null;
	acknowledgedAt: string | null;
	acknowledgedBy: string | null;
	open: boolean;
}
interface NodeView {
	id: string;
	available: boolean;
	local: boolean;
	hostname?: string;
	services: string[];
}
interface LiveReading {
	datapointId: number;
	label: string;
	unit: string | null;
	value: number;
	ts: number;
}

// ---- small helpers --------------------------------------------------------------------------

const TOKEN_KEY = "fleetmesh.token";
const EMAIL_KEY = "fleetmesh.email";
const CHART_WINDOW_S = 10 * 60;
const CHART_MAX_POINTS = 1200;

type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined | false)[]): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v == null || v === false) continue;
		if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
		else if (k === "class") el.className = String(v);
		else el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children) if (c != null && c !== false) el.append(c);
	return el;
}

const fmtNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
function fmtValue(v: number | null): string {
	if (v == null || !Number.isFinite(v)) return "—";
	return Math.abs(v) >= 10_000 ? Math.round(v).toLocaleString() : fmtNumber.format(v);
}

/** Axis labels with just enough decimals to tell neighbouring ticks apart (GPS degrees move in the 4th). */
function tickLabels(ticks: number[]): string[] {
	const inc = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
	let d = 0;
	while (d < 6 && ticks.some(t => Math.abs(Number(t.toFixed(d)) - t) > inc * 1e-3)) d++;
	return ticks.map(t => (Math.abs(t) >= 10_000 ? Math.round(t).toLocaleString() : t.toFixed(d)));
}

function timeLabels(ticks: number[]): string[] {
	const inc = ticks.length > 1 ? ticks[1] - ticks[0] : 60;
	// 24-hour clock: "13:50:30" fits under a tick, "01:50:30 PM" does not.
	const opts: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", ...(inc < 60 ? { second: "2-digit" } : {}) };
	return ticks.map(t => new Date(t * 1000).toLocaleTimeString([], opts));
}

function ago(iso: string | null): string {
	if (!iso) return "never";
	const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
	if (s < 5) return "just now";
	if (s < 60) return `${s} s ago`;
	if (s < 3600) return `${Math.round(s / 60)} min ago`;
	if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
	return new Date(iso).toLocaleDateString();
}

function cssVar(name: string): string {
	return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** The token's claims, for the email and admin flag shown in the bar (the server checks them anyway). */
function claims(token: string): Record<string, unknown> {
	try {
		const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
		return JSON.parse(decodeURIComponent(escape(atob(part))));
	} catch {
		return {};
	}
}

class ApiError extends Error {
	constructor(
		message: string,
		readonly status: number
	) {
		super(message);
	}
}

// ---- application ----------------------------------------------------------------------------

class Dashboard {
	private token = localStorage.getItem(TOKEN_KEY);
	private socket: Socket | null = null;
	private timers: number[] = [];
	private devices = new Map<number, DeviceCard>();
	private alerts = new Map<number, AlertView>();
	private nodes: NodeView[] = [];
	private root = document.getElementById("app")!;
	private els: Record<string, HTMLElement> = {};

	start(): void {
		if (this.token) this.showApp();
		else this.showLogin();
	}

	async api<T>(path: string, init: RequestInit = {}): Promise<T> {
		const res = await fetch(path, {
			...init,
			headers: { "content-type": "application/json", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(init.headers ?? {}) }
		});
		const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
		if (res.status === 401 && this.token) {
			this.logout("Your session has ended. Please sign in again.");
			throw new ApiError("unauthorized", 401);
		}
		if (!res.ok) throw new ApiError((body as { message?: string })?.message ?? `HTTP ${res.status}`, res.status);
		return body as T;
	}

	// ---- login ----

	showLogin(message = ""): void {
		this.root.replaceChildren();
		const error = h("div", { class: "error", role: "alert" }, message);
		const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, value: localStorage.getItem(EMAIL_KEY) ?? "" });
		const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
		const submit = h("button", { class: "btn primary", type: "submit" }, "Sign in");
		const form = h(
			"form",
			{
				class: "panel login",
				onsubmit: (async (e: Event) => {
					e.preventDefault();
					submit.disabled = true;
					error.textContent = "";
					try {
						const res = await this.api<{ access_token: string }>("/api/users/auth", {
							method: "POST",
							body: JSON.stringify({ email: email.value.trim(), password: password.value })
						});
						this.token = res.access_token;
						localStorage.setItem(TOKEN_KEY, res.access_token);
						localStorage.setItem(EMAIL_KEY, email.value.trim());
						this.showApp();
					} catch (err) {
						error.textContent = (err as ApiError).status === 401 ? "Wrong email or password." : (err as Error).message;
						submit.disabled = false;
						password.select();
					}
				}) as EventListener
			},
			h("h1", {}, h("img", { src: "favicon.svg", alt: "" }), "fleetmesh"),
			h("p", {}, "Sign in to see your devices, live readings and alerts."),
			h("label", {}, "Email", email),
			h("label", {}, "Password", password),
			error,
			submit
		);
		this.root.append(h("div", { class: "login-wrap" }, form));
		(email.value ? password : email).focus();
	}

	logout(message = ""): void {
		const token = this.token;
		this.token = null;
		localStorage.removeItem(TOKEN_KEY);
		if (token && !message) {
			// Revoke on the server too; the page does not wait for it.
			fetch("/api/users/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
		}
		this.socket?.disconnect();
		this.socket = null;
		for (const t of this.timers) clearInterval(t);
		this.timers = [];
		for (const d of this.devices.values()) d.destroy();
		this.devices.clear();
		this.alerts.clear();
		this.showLogin(message);
	}

	// ---- main view ----

	showApp(): void {
		const c = claims(this.token!);
		const email = String(c.email ?? localStorage.getItem(EMAIL_KEY) ?? "");
		this.root.replaceChildren();
		const conn = h("span", { class: "conn", title: "Live connection" }, h("span", { class: "dot" }), h("span", { class: "conn-text" }, "connecting"));
		const tiles = {
			devices: this.tile("devices", "Devices"),
			streaming: this.tile("streaming", "Reporting now"),
			alerts: this.tile("alerts", "Open alerts"),
			nodes: this.tile("nodes", "Mesh nodes")
		};
		this.els = {
			conn,
			devices: h("div", { class: "devices", id: "devices" }, h("div", { class: "panel empty" }, "Loading devices…")),
			alerts: h("ul", { class: "alerts", id: "alerts" }),
			nodes: h("ul", { class: "nodes", id: "nodes" }),
			...Object.fromEntries(Object.entries(tiles).map(([k, t]) => [`tile-${k}`, t]))
		};
		this.root.append(
			h(
				"header",
				{ class: "topbar" },
				h("div", { class: "brand" }, h("img", { src: "favicon.svg", alt: "" }), "fleetmesh"),
				h("span", { class: "spacer" }),
				conn,
				h("span", { class: "who" }, email),
				h("button", { class: "btn", type: "button", onclick: (() => this.logout()) as EventListener }, "Sign out")
			),
			h(
				"main",
				{},
				h("section", { class: "summary", "aria-label": "Summary" }, ...Object.values(tiles)),
				h(
					"div",
					{ class: "columns" },
					h("section", { class: "area-devices", "aria-label": "Devices" }, h("h2", {}, "Devices"), this.els.devices),
					h("section", { class: "area-alerts", "aria-label": "Alerts" }, h("h2", {}, "Alerts"), h("div", { class: "panel" }, this.els.alerts)),
					h("section", { class: "area-nodes", "aria-label": "Mesh" }, h("h2", {}, "Mesh nodes"), h("div", { class: "panel" }, this.els.nodes))
				)
			)
		);
		this.connect();
		void this.refreshDevices();
		void this.refreshAlerts();
		void this.refreshNodes();
		this.timers.push(
			window.setInterval(() => void this.refreshDevices(), 10_000),
			window.setInterval(() => void this.refreshNodes(), 10_000),
			window.setInterval(() => void this.refreshAlerts(), 30_000),
			window.setInterval(() => this.renderAlerts(), 15_000)
		);
	}

	private tile(key: string, label: string): HTMLElement {
		return h("div", { class: "tile", "data-tile": key }, h("div", { class: "n" }, "–"), h("div", { class: "l" }, label));
	}

	private setTile(key: string, n: number, alerting = false): void {
		const t = this.els[`tile-${key}`];
		if (!t) return;
		t.querySelector(".n")!.textContent = String(n);
		t.classList.toggle("alerting", alerting);
	}

	private updateSummary(): void {
		const devices = [...this.devices.values()];
		this.setTile("devices", devices.length);
		this.setTile("streaming", devices.filter(d => d.isReporting()).length);
		const open = [...this.alerts.values()].filter(a => a.open).length;
		this.setTile("alerts", open, open > 0);
		this.setTile("nodes", this.nodes.filter(n => n.available).length);
	}

	// ---- live connection ----

	private connect(): void {
		const socket = io({ auth: { token: this.token }, transports: ["websocket", "polling"] });
		this.socket = socket;
		const setConn = (state: "live" | "down" | "", text: string) => {
			this.els.conn.className = `conn ${state}`;
			this.els.conn.querySelector(".conn-text")!.textContent = text;
		};
		socket.on("connect", () => {
			setConn("live", "live");
			this.joinRooms([...this.devices.keys()]);
			// Admins also get every alert; for others the call is refused and alerts come per device.
			socket.emit("call", "monitoring.join", { rooms: ["alerts"] }, () => undefined);
		});
		socket.on("disconnect", () => setConn("down", "reconnecting"));
		socket.on("connect_error", (err: Error & { data?: { code?: number } }) => {
			setConn("down", "offline");
			if (err.data?.code === 401 || /unauthori|token|401/i.test(err.message)) this.logout("Your session has ended. Please sign in again.");
		});
		socket.on("readings", (msg: { deviceId: number; readings: LiveReading[] }) => {
			this.devices.get(msg.deviceId)?.addReadings(msg.readings);
			this.updateSummary();
		});
		socket.on("device.status", (msg: { deviceId: number; status: string; nodeID?: string }) => {
			this.devices.get(msg.deviceId)?.setStatus(msg.status, msg.nodeID);
			this.updateSummary();
		});
		socket.on("alert", (a: AlertView) => {
			this.alerts.set(a.id, a);
			this.renderAlerts();
		});
	}

	private joinRooms(deviceIds: number[]): void {
		if (!this.socket?.connected || !deviceIds.length) return;
		this.socket.emit("call", "monitoring.join", { rooms: deviceIds.map(id => `device:${id}`) }, (err: { message?: string } | null) => {
			if (err) console.warn("join refused:", err.message);
		});
	}

	// ---- data ----

	private async refreshDevices(): Promise<void> {
		let list: DeviceView[];
		try {
			list = await this.api<DeviceView[]>("/api/monitoring/devices");
		} catch (err) {
			if ((err as ApiError).status !== 401) this.els.devices.replaceChildren(h("div", { class: "panel empty" }, `Devices are not available right now: ${(err as Error).message}`));
			return;
		}
		if (!this.token) return;
		const fresh: number[] = [];
		const seen = new Set<number>();
		for (const d of list) {
			seen.add(d.id);
			const card = this.devices.get(d.id);
			if (card) card.update(d);
			else {
				const created = new DeviceCard(d, this);
				this.devices.set(d.id, created);
				fresh.push(d.id);
			}
		}
		for (const [id, card] of this.devices) {
			if (!seen.has(id)) {
				card.destroy();
				this.devices.delete(id);
			}
		}
		const cards = [...this.devices.values()].sort((a, b) => b.priority() - a.priority() || a.id - b.id);
		if (!cards.length) {
			this.els.devices.replaceChildren(
				h("div", { class: "panel empty" }, "No devices yet. Plug in a board, or start with SIMULATE=1 to see virtual devices.")
			);
		} else {
			this.els.devices.replaceChildren(...cards.map(c => c.el));
			for (const c of cards) c.resize();
		}
		this.joinRooms(fresh);
		for (const id of fresh) void this.devices.get(id)?.loadHistory();
		this.updateSummary();
	}

	private async refreshAlerts(): Promise<void> {
		try {
			const [open, recent] = await Promise.all([
				this.api<AlertView[]>("/api/monitoring/alerts?status=open&limit=100"),
				this.api<AlertView[]>("/api/monitoring/alerts?status=all&limit=30")
			]);
			this.alerts.clear();
			for (const a of [...recent, ...open]) this.alerts.set(a.id, a);
			this.renderAlerts();
		} catch (err) {
			if ((err as ApiError).status !== 401) this.els.alerts.replaceChildren(h("li", { class: "empty" }, `Alerts are not available: ${(err as Error).message}`));
		}
	}

	renderAlerts(): void {
		const list = [...this.alerts.values()].sort((a, b) => Number(b.open) - Number(a.open) || b.id - a.id).slice(0, 40);
		if (!list.length) {
			this.els.alerts.replaceChildren(h("li", { class: "empty" }, "No alerts. All quiet."));
		} else {
			this.els.alerts.replaceChildren(...list.map(a => this.alertItem(a)));
		}
		for (const d of this.devices.values()) d.setOpenAlerts(list.filter(a => a.open && a.deviceId === d.id).length);
		this.updateSummary();
	}

	private alertItem(a: AlertView): HTMLElement {
		const state = a.open ? `raised ${ago(a.raisedAt)}` : `cleared ${ago(a.clearedAt)}`;
		let action: HTMLElement;
		if (a.acknowledgedAt) {
			action = h("span", { class: "acked", title: `by ${a.acknowledgedBy ?? "?"}` }, "✓ acknowledged");
		} else {
			const btn = h("button", { class: "btn", type: "button", "data-ack": a.id }, "Acknowledge");
			btn.addEventListener("click", async () => {
				btn.disabled = true;
				try {
					const updated = await this.api<AlertView>(`/api/monitoring/alerts/${a.id}/ack`, { method: "POST", body: "{}" });
					this.alerts.set(updated.id, updated);
					this.renderAlerts();
				} catch (err) {
					btn.disabled = false;
					btn.title = (err as Error).message;
				}
			});
			action = btn;
		}
		return h(
			"li",
			{ class: `alert ${a.severity} ${a.open ? "open" : "cleared"}`, "data-alert-id": a.id },
			h("span", { class: "bar" }),
			h("div", {}, h("div", { class: "msg" }, a.message), h("div", { class: "meta" }, [a.severity, a.message.startsWith(a.device) ? null : a.device, state].filter(Boolean).join(" · "))),
			action
		);
	}

	private async refreshNodes(): Promise<void> {
		try {
			this.nodes = await this.api<NodeView[]>("/api/nodes");
		} catch {
			return;
		}
		this.els.nodes.replaceChildren(
			...this.nodes
				.sort((a, b) => Number(b.available) - Number(a.available) || a.id.localeCompare(b.id))
				.map(n =>
					h(
						"li",
						{ class: `node ${n.available ? "" : "down"}`, "data-node": n.id },
						h("div", { class: "node-head" }, h("span", { class: "dot" }), n.id, n.local ? h("span", { class: "chip" }, "this node") : null),
						h("div", { class: "chips" }, ...n.services.map(s => h("span", { class: "chip" }, s)))
					)
				)
		);
		this.updateSummary();
	}
}

// ---- one device card ------------------------------------------------------------------------

class DeviceCard {
	readonly id: number;
	readonly el: HTMLElement;
	private data: DeviceView;
	private badge: HTMLElement;
	private alertBadge: HTMLElement;
	private sub: HTMLElement;
	private valuesEl: HTMLElement;
	private chartEl: HTMLElement;
	private noteEl: HTMLElement;
	private tiles = new Map<number, HTMLElement>();
	private series = new Map<number, { xs: number[]; ys: number[] }>();
	private selected: number | null = null;
	private plot: uPlot | null = null;
	private lastLive = 0;
	private resizeObserver: ResizeObserver;

	constructor(
		d: DeviceView,
		private readonly app: Dashboard
	) {
		this.id = d.id;
		this.data = d;
		this.badge = h("span", { class: "badge" });
		this.alertBadge = h("span", { class: "badge alerting", hidden: true });
		this.sub = h("div", { class: "device-sub" });
		this.valuesEl = h("div", { class: "values" });
		this.chartEl = h("div", { class: "chart" });
		this.noteEl = h("div", { class: "chart-note" });
		this.el = h(
			"article",
			{ class: "panel device", "data-device-id": d.id },
			h("div", { class: "device-head" }, h("div", { style: "flex:1;min-width:0" }, h("div", { class: "device-name" }, d.name), this.sub), this.alertBadge, this.badge),
			this.valuesEl,
			this.chartEl,
			this.noteEl
		);
		this.resizeObserver = new ResizeObserver(() => this.resize());
		this.resizeObserver.observe(this.chartEl);
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
		this.data = { ...d, openAlerts: d.openAlerts };
		this.setStatus(d.status, d.nodeID ?? undefined);
		this.setOpenAlerts(d.openAlerts);
		for (const dp of d.datapoints) {
			if (!this.series.has(dp.id)) this.series.set(dp.id, { xs: [], ys: [] });
			if (!this.tiles.has(dp.id)) this.addTile(dp);
			// A value seen live is newer than the list's; only fill tiles that have nothing yet.
			const tile = this.tiles.get(dp.id)!;
			if (tile.dataset.ts == null || (dp.ts && Date.parse(dp.ts) > Number(tile.dataset.ts))) this.setTile(dp.id, dp.value, dp.ts ? Date.parse(dp.ts) : null, false);
		}
		if (this.selected == null && d.datapoints.length) this.select(d.datapoints[0].id);
	}

	setStatus(status: string, nodeID?: string): void {
		this.data.status = status;
		if (nodeID) this.data.nodeID = nodeID;
		this.badge.className = `badge ${status}`;
		this.badge.textContent = status;
		const kind = this.data.profile ? `profile ${this.data.profile}` : this.data.type;
		const bits = [kind, this.data.nodeID ? `on ${this.data.nodeID}` : null, `#${this.id}`].filter(Boolean);
		this.sub.textContent = bits.join(" · ");
	}

	setOpenAlerts(n: number): void {
		this.data.openAlerts = n;
		this.alertBadge.hidden = n === 0;
		this.alertBadge.textContent = n === 1 ? "1 alert" : `${n} alerts`;
	}

	private addTile(dp: DatapointView): void {
		const tile = h(
			"button",
			{ class: "value", type: "button", "data-dp": dp.id, "data-label": dp.label, title: `Show ${dp.label} in the chart` },
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
		const text = fmtValue(value);
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
		this.plot?.destroy();
		this.plot = null;
		this.draw();
	}

	async loadHistory(): Promise<void> {
		try {
			const page = await this.app.api<{ items: { ts: string; datapointId: number; value: number | null }[] }>(
				`/api/monitoring/data/${this.id}?from=-10m&limit=1000`
			);
			const byDp = new Map<number, { x: number; y: number }[]>();
			for (const it of page.items) {
				if (it.value == null) continue;
				let l = byDp.get(it.datapointId);
				if (!l) byDp.set(it.datapointId, (l = []));
				l.push({ x: Date.parse(it.ts) / 1000, y: it.value });
			}
			for (const [dp, points] of byDp) {
				points.sort((a, b) => a.x - b.x);
				const s = this.series.get(dp) ?? { xs: [], ys: [] };
				// Merge with anything that arrived live meanwhile.
				const merged = [...points, ...s.xs.map((x, i) => ({ x, y: s.ys[i] }))].sort((a, b) => a.x - b.x);
				this.series.set(dp, { xs: merged.map(p => p.x), ys: merged.map(p => p.y) });
			}
			this.draw();
		} catch {
			/* the chart fills from live data */
		}
	}

	addReadings(readings: LiveReading[]): void {
		this.lastLive = Date.now();
		for (const r of readings) {
			if (!this.tiles.has(r.datapointId)) {
				this.addTile({ id: r.datapointId, label: r.label, unit: r.unit, value: r.value, ts: null });
				if (this.selected == null) this.select(r.datapointId);
			}
			let s = this.series.get(r.datapointId);
			if (!s) this.series.set(r.datapointId, (s = { xs: [], ys: [] }));
			const x = r.ts / 1000;
			if (s.xs.length && x < s.xs[s.xs.length - 1]) continue; // out of order: skip for the chart
			s.xs.push(x);
			s.ys.push(r.value);
			const cutoff = x - CHART_WINDOW_S;
			let drop = 0;
			while (drop < s.xs.length && s.xs[drop] < cutoff) drop++;
			drop = Math.max(drop, s.xs.length - CHART_MAX_POINTS);
			if (drop > 0) {
				s.xs.splice(0, drop);
				s.ys.splice(0, drop);
			}
		}
		const latest = new Map<number, LiveReading>();
		for (const r of readings) latest.set(r.datapointId, r);
		for (const r of latest.values()) this.setTile(r.datapointId, r.value, r.ts, true);
		this.draw();
	}

	private draw(): void {
		if (this.selected == null) return;
		const s = this.series.get(this.selected) ?? { xs: [], ys: [] };
		const tile = this.tiles.get(this.selected);
		const unit = tile?.querySelector(".u")?.textContent ?? "";
		const label = tile?.dataset.label ?? "";
		this.noteEl.textContent = s.xs.length ? `${label}${unit ? ` (${unit})` : ""}, last 10 minutes` : `No ${label} readings in the last 10 minutes`;
		this.el.classList.toggle("no-data", s.xs.length === 0);
		const data: uPlot.AlignedData = [s.xs, s.ys];
		if (this.plot) {
			this.plot.setData(data);
			return;
		}
		const width = Math.max(200, this.chartEl.clientWidth || 300);
		const accent = cssVar("--accent");
		const muted = cssVar("--muted");
		const grid = cssVar("--line");
		const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui, sans-serif" };
		this.plot = new uPlot(
			{
				width,
				height: 150,
				padding: [8, 8, 0, 0],
				cursor: { drag: { x: false, y: false } },
				legend: { show: false },
				// At least a minute of x axis: a device that just started does not get millisecond ticks.
				scales: {
					x: { time: true, range: (_u: uPlot, min: number, max: number) => [Math.min(min, max - 60), max] },
					// A flat line sits in the middle of a narrow band instead of at the edge of 0…40.
					y: {
						range: (_u: uPlot, min: number, max: number) => {
							if (max > min) return [min - (max - min) * 0.1, max + (max - min) * 0.1];
							const d = Math.abs(max) * 0.01 || 1;
							return [max - d, max + d];
						}
					}
				},
				// The y axis is as wide as its longest label (GPS degrees need more room than °C).
				axes: [
					// One line of clock time (uPlot's default adds a date row that crowds a small card).
					{ ...axis, space: 72, size: 30, values: (_u: uPlot, ticks: number[]) => timeLabels(ticks) },
					{
						...axis,
						values: (_u: uPlot, ticks: number[]) => tickLabels(ticks),
						size: (_u: uPlot, values: string[]) => (values?.length ? Math.max(...values.map(v => v.length)) * 7 + 16 : 40)
					}
				],
				series: [{}, { label, stroke: accent, width: 2, fill: `${accent}22`, points: { show: false } }]
			},
			data,
			this.chartEl
		);
	}

	resize(): void {
		if (!this.plot) return;
		const w = this.chartEl.clientWidth;
		if (w > 0 && Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: 150 });
	}

	destroy(): void {
		this.resizeObserver.disconnect();
		this.plot?.destroy();
		this.el.remove();
	}
}

new Dashboard().start();
