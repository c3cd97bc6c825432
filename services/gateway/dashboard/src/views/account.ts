/** Account: who is signed in, and changing one's own password. */
import { h, toast } from "../lib/dom";
import type { View } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export const accountView: View = {
	path: "account",
	title: "Account",
	nav: false,
	order: 90,
	render(el, ctx) {
		const current = h("input", {
			type: "password",
			name: "oldPassword",
			autocomplete: "current-password",
			required: true
		});
		const next = h("input", {
			type: "password",
			name: "newPassword",
			autocomplete: "new-password",
			required: true,
			minlength: 8
		});
		const again = h("input", {
			type: "password",
			name: "repeatPassword",
			autocomplete: "new-password",
			required: true
		});
		const submit = h("button", { class: "btn primary", type: "submit" }, "Change password");
		const msg = h("div", { class: "error", role: "alert" });
		const form = h(
			"form",
			{ class: "panel pad stack narrow", "aria-label": "Change password" },
			h("h2", {}, "Change password"),
			h("label", {}, "Current password", current),
			h("label", {}, "New password (at least 8 characters)", next),
			h("label", {}, "New password again", again),
			msg,
			submit
		);
		form.addEventListener("submit", async e => {
			e.preventDefault();
			msg.textContent = "";
			if (next.value !== again.value) {
				msg.textContent = "The two new passwords differ.";
				return;
			}
			submit.disabled = true;
			try {
				await ctx.api.post("/api/users/me/password", { oldPassword: current.value, newPassword: next.value });
				form.reset();
				// Every session of the user ends with a password change, this one too.
				toast("Password changed. Sign in with the new one.");
				ctx.signOut("Password changed. Sign in with the new password.");
			} catch (err) {
				msg.textContent = errorMessage(err);
			} finally {
				submit.disabled = false;
			}
		});
		el.append(
			h("div", { class: "view-head" }, h("h1", {}, "Account")),
			h(
				"section",
				{ class: "panel pad narrow" },
				h(
					"dl",
					{ class: "facts" },
					h("dt", {}, "E-mail"),
					h("dd", {}, ctx.user.email),
					h("dt", {}, "Role"),
					h("dd", {}, ctx.user.admin ? "administrator" : "user")
				)
			),
			form
		);
	}
};
