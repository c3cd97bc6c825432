/**
 * The dashboard shell: sign-in, the top bar with the navigation built from the registered views,
 * the hash router (`#/<view>/<params>`), one API client and one live connection shared by the
 * views. A view is rendered into an empty element and gets a context whose subscriptions, timers
 * and charts are cleaned up when the route changes.
 */
import { Api, ApiError, claims } from "./api";
import { h } from "./lib/dom";
import { Live, type ConnState } from "./live";
import type { View, ViewContext, Viewer } from "./views/view";
import { errorMessage } from "../../../shared/error-message";

const EMAIL_KEY = "fleetmesh.email";

export class App {
	private api = new Api();
	private live = new Live();
	private root = document.getElementById("app")!;
	private main: HTMLElement | null = null;
	private nav: HTMLElement | null = null;
	private conn: HTMLElement | null = null;
	private cleanups: (() => void)[] = [];
	private user: Viewer = { id: null, email: "", admin: false };
	private readonly views: View[];

	constructor(views: View[]) {
		this.views = [...views].sort((a, b) => a.order - b.order);
		this.api.onUnauthorized = () => this.logout("Your session has ended. Please sign in again.");
		this.live.onUnauthorized = () => this.logout("Your session has ended. Please sign in again.");
		this.live.onState = s => this.setConn(s);
		window.addEventListener("hashchange", () => this.route());
	}

	start(): void {
		if (this.api.token) this.showApp();
		else this.showLogin();
	}

	// ---- sign-in ----

	private showLogin(message = ""): void {
		this.root.replaceChildren();
		this.main = this.nav = this.conn = null;
		const error = h("div", { class: "error", role: "alert" }, message);
		const email = h("input", {
			type: "email",
			name: "email",
			autocomplete: "username",
			required: true,
			value: localStorage.getItem(EMAIL_KEY) ?? ""
		});
		const password = h("input", {
			type: "password",
			name: "password",
			autocomplete: "current-password",
			required: true
		});
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
						const res = await this.api.post<{ access_token: string }>("/api/users/auth", {
							email: email.value.trim(),
							password: password.value
						});
						this.api.setToken(res.access_token);
						localStorage.setItem(EMAIL_KEY, email.value.trim());
						this.showApp();
					} catch (err) {
						error.textContent =
							(err as ApiError).status === 401 ? "Wrong email or password." : errorMessage(err);
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
		const token = this.api.token;
		if (!token) return;
		this.api.setToken(null);
		if (!message) {
			// Revoke on the server too; the page does not wait for it.
			fetch("/api/users/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } }).catch(
				() => undefined
			);
		}
		this.leaveView();
		this.live.disconnect();
		this.showLogin(message);
	}

	// ---- shell ----

	private showApp(): void {
		const c = claims(this.api.token!);
		this.user = {
			id: c.sub != null ? Number(c.sub) : null,
			email: String(c.email ?? localStorage.getItem(EMAIL_KEY) ?? ""),
			admin: c.is_admin === true || c.role === "admin"
		};
		this.root.replaceChildren();
		this.conn = h(
			"span",
			{ class: "conn", title: "Live connection" },
			h("span", { class: "dot" }),
			h("span", { class: "conn-text" }, "connecting")
		);
		this.nav = h("nav", { class: "nav", "aria-label": "Views" });
		for (const v of this.views) {
			if (!v.nav || (v.nav === "admin" && !this.user.admin)) continue;
			this.nav.append(
				h(
					"a",
					{ href: `#/${v.path}`, "data-view": v.path },
					v.icon ? h("span", { class: "nav-icon", "aria-hidden": "true" }, v.icon) : null,
					h("span", { class: "nav-label" }, v.title)
				)
			);
		}
		this.main = h("main", { id: "view" });
		this.root.append(
			h(
				"header",
				{ class: "topbar" },
				h(
					"a",
					{ class: "brand", href: "#/" },
					h("img", { src: "favicon.svg", alt: "" }),
					h("span", {}, "fleetmesh")
				),
				this.nav,
				h("span", { class: "spacer" }),
				this.conn,
				h("a", { class: "who", href: "#/account", title: "Your account" }, this.user.email),
				h(
					"button",
					{ class: "btn", type: "button", onclick: (() => this.logout()) as EventListener },
					"Sign out"
				)
			),
			this.main
		);
		this.live.connect(this.api.token!);
		this.route();
	}

	private setConn(s: ConnState): void {
		if (!this.conn) return;
		const cls = s === "live" ? "live" : s === "connecting" ? "" : "down";
		this.conn.className = `conn ${cls}`;
		this.conn.querySelector(".conn-text")!.textContent = s === "down" ? "reconnecting" : s;
	}

	private leaveView(): void {
		// Messages about the page being left are stale on the next one.
		document.getElementById("toasts")?.replaceChildren();
		for (const fn of this.cleanups.splice(0)) {
			try {
				fn();
			} catch (err) {
				console.error(err);
			}
		}
	}

	private route(): void {
		if (!this.main || !this.api.token) return;
		const parts = location.hash
			.replace(/^#\/?/, "")
			.split("?")[0]
			.split("/")
			.filter(Boolean)
			.map(decodeURIComponent);
		const view =
			this.views.find(v => v.path === (parts[0] ?? "")) ?? this.views.find(v => v.path === "") ?? this.views[0];
		if (view.nav === "admin" && !this.user.admin) {
			this.main.replaceChildren(h("div", { class: "panel empty" }, "This page is for administrators."));
			return;
		}
		this.leaveView();
		for (const a of Array.from(this.nav?.querySelectorAll("a") ?? []))
			a.classList.toggle("active", a.dataset.view === view.path);
		document.title = view.title ? `${view.title} · fleetmesh` : "fleetmesh";
		const el = h("div", { class: `view view-${view.path || "overview"}`, "data-view": view.path });
		this.main.replaceChildren(el);
		window.scrollTo(0, 0);
		const cleanups = this.cleanups;
		const ctx: ViewContext = {
			api: this.api,
			live: this.live,
			user: this.user,
			navigate: path => {
				location.hash = `#/${path}`;
			},
			onCleanup: fn => cleanups.push(fn),
			every: (ms, fn) => {
				const run = () =>
					Promise.resolve()
						.then(fn)
						.catch(err => {
							if (!(err instanceof ApiError && err.status === 401)) console.warn(err);
						});
				void run();
				const t = window.setInterval(run, ms);
				cleanups.push(() => clearInterval(t));
			},
			on: (event, fn) => cleanups.push(this.live.on(event, fn)),
			signOut: message => this.logout(message)
		};
		Promise.resolve()
			.then(() => view.render(el, ctx, parts.slice(1)))
			.catch(err => {
				if (err instanceof ApiError && err.status === 401) return;
				el.replaceChildren(
					h(
						"div",
						{ class: "panel empty error-box" },
						err instanceof ApiError && err.status === 404
							? "Not found."
							: `This page could not be shown: ${errorMessage(err)}`
					)
				);
			});
	}
}
