/**
 * Users (administrators): list, create, make or unmake administrator, reset a password, delete.
 * Backed by the signing service's user routes.
 */
import { fmtTime, h, toast } from "../lib/dom";
import type { UserView } from "../types";
import type { View, ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export const usersView: View = {
	path: "users",
	title: "Users",
	nav: "admin",
	order: 80,
	icon: "☺",
	render(el, ctx) {
		new UsersPage(el, ctx);
	}
};

const isAdmin = (u: UserView) => u.role === "admin";

/** A readable random password for a reset or a new user (shown once to the administrator). */
export function generatePassword(): string {
	const words = [
		"amber",
		"basil",
		"cedar",
		"delta",
		"ember",
		"fjord",
		"garnet",
		"harbor",
		"indigo",
		"juniper",
		"kestrel",
		"lumen",
		"maple",
		"nectar",
		"onyx",
		"pebble",
		"quartz",
		"raven",
		"sierra",
		"tundra",
		"umber",
		"violet",
		"willow",
		"zephyr"
	];
	const r = new Uint32Array(4);
	crypto.getRandomValues(r);
	const w = (i: number) => words[r[i] % words.length];
	return `${w(0)[0].toUpperCase()}${w(0).slice(1)}-${w(1)}-${w(2)}-${1000 + (r[3] % 9000)}`;
}

class UsersPage {
	private body = h("tbody", {});
	private secret = h("div", {});
	private count = h("span", { class: "muted small" });

	constructor(
		el: HTMLElement,
		private readonly ctx: ViewContext
	) {
		const email = h("input", {
			type: "email",
			name: "email",
			required: true,
			placeholder: "new.user@example.com",
			"aria-label": "E-mail"
		});
		const password = h("input", {
			type: "text",
			name: "password",
			required: true,
			minlength: 8,
			value: generatePassword(),
			"aria-label": "Initial password"
		});
		const admin = h("input", { type: "checkbox", name: "admin" });
		const create = h("button", { class: "btn primary", type: "submit" }, "Create user");
		const form = h(
			"form",
			{ class: "inline-form create-user", "aria-label": "New user" },
			h("label", {}, "E-mail ", email),
			h("label", {}, "Password ", password),
			h("label", { class: "check" }, admin, " administrator"),
			create
		);
		form.addEventListener("submit", async e => {
			e.preventDefault();
			create.disabled = true;
			try {
				const user = await ctx.api.post<UserView>("/api/users/add", {
					email: email.value.trim(),
					password: password.value
				});
				if (admin.checked) await ctx.api.put(`/api/users/${user.id}/role`, { role: "admin" });
				this.showSecret(user.email, password.value);
				email.value = "";
				password.value = generatePassword();
				admin.checked = false;
				await this.load();
			} catch (err) {
				toast(errorMessage(err), "error");
			} finally {
				create.disabled = false;
			}
		});
		el.append(
			h("div", { class: "view-head" }, h("h1", {}, "Users"), this.count),
			h("section", { class: "panel pad" }, h("h2", {}, "New user"), form),
			this.secret,
			h(
				"div",
				{ class: "panel table-wrap" },
				h(
					"table",
					{ class: "table users-table" },
					h(
						"thead",
						{},
						h("tr", {}, h("th", {}, "E-mail"), h("th", {}, "Role"), h("th", {}, "Created"), h("th", {}, ""))
					),
					this.body
				)
			)
		);
		void this.load();
	}

	private async load(): Promise<void> {
		const { items } = await this.ctx.api.all<UserView>("/api/users", { limit: 100 });
		this.count.textContent = `${items.length} users`;
		this.body.replaceChildren(...items.map(u => this.row(u)));
	}

	private row(u: UserView): HTMLElement {
		const me = u.email === this.ctx.user.email;
		const role = h(
			"button",
			{
				class: "btn",
				type: "button",
				"data-action": "role",
				disabled: me,
				title: me ? "You cannot change your own role" : ""
			},
			isAdmin(u) ? "Make user" : "Make admin"
		);
		role.addEventListener("click", () =>
			this.act(async () => {
				await this.ctx.api.put(`/api/users/${u.id}/role`, { role: isAdmin(u) ? "user" : "admin" });
				toast(`${u.email} is now ${isAdmin(u) ? "a user" : "an administrator"}.`);
			})
		);
		const reset = h("button", { class: "btn", type: "button", "data-action": "reset" }, "Reset password");
		reset.addEventListener("click", () =>
			this.act(async () => {
				if (!confirm(`Set a new password for ${u.email}? Their sessions end.`)) return;
				// The server generates it and answers it once: shown here for the administrator to pass on.
				const r = await this.ctx.api.post<{ password?: string }>(`/api/users/${u.id}/reset-password`, {});
				this.showSecret(u.email, r.password ?? "");
			})
		);
		const del = h(
			"button",
			{ class: "btn danger", type: "button", "data-action": "delete", disabled: me },
			"Delete"
		);
		del.addEventListener("click", () =>
			this.act(async () => {
				if (
					!confirm(
						`Delete ${u.email}? Their devices keep their owner field; only administrators see them then.`
					)
				)
					return;
				await this.ctx.api.del(`/api/users/${u.id}`);
				toast(`${u.email} deleted.`);
			})
		);
		return h(
			"tr",
			{ "data-user-id": u.id },
			h("td", {}, u.email, me ? h("span", { class: "chip" }, "you") : null),
			h("td", {}, isAdmin(u) ? h("span", { class: "badge info-badge" }, "admin") : "user"),
			h("td", { class: "muted" }, fmtTime(u.createdAt)),
			h("td", { class: "row-actions" }, role, reset, del)
		);
	}

	/** A new password, shown once in the page (not only in a toast that fades). */
	private showSecret(email: string, password: string): void {
		this.secret.replaceChildren(
			h(
				"div",
				{ class: "panel pad secret", role: "status" },
				`New password for ${email}: `,
				h("code", { "data-secret": "" }, password),
				h(
					"div",
					{ class: "muted small" },
					"Shown once. Their sessions have ended; they sign in with this and change it under Account."
				)
			)
		);
	}

	private async act(fn: () => Promise<void>): Promise<void> {
		try {
			await fn();
			await this.load();
		} catch (err) {
			toast(errorMessage(err), "error");
		}
	}
}
