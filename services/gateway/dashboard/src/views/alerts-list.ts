/** One alert as a list item (overview and alerts view), with Acknowledge and an optional comment. */
import { ago, fmtTime, h, toast } from "../lib/dom";
import type { AlertView } from "../types";
import type { ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export function alertItem(
	a: AlertView,
	ctx: ViewContext,
	onUpdate: (a: AlertView) => void,
	opts: { comment?: boolean } = {}
): HTMLElement {
	const state = a.open ? `raised ${ago(a.raisedAt)}` : `cleared ${ago(a.clearedAt)}`;
	let action: HTMLElement;
	if (a.acknowledgedAt) {
		action = h(
			"span",
			{ class: "acked", title: `by ${a.acknowledgedBy ?? "?"} at ${fmtTime(a.acknowledgedAt)}` },
			"✓ acknowledged",
			a.ackComment ? h("span", { class: "ack-comment" }, `“${a.ackComment}”`) : null
		);
	} else {
		const input = opts.comment
			? h("input", {
					type: "text",
					name: "comment",
					placeholder: "Comment (optional)",
					maxlength: 500,
					"aria-label": "Acknowledge comment"
				})
			: null;
		const btn = h("button", { class: "btn", type: "button", "data-ack": a.id }, "Acknowledge");
		btn.addEventListener("click", async () => {
			btn.disabled = true;
			try {
				const comment = input?.value.trim();
				const updated = await ctx.api.post<AlertView>(
					`/api/monitoring/alerts/${a.id}/ack`,
					comment ? { comment } : {}
				);
				onUpdate(updated);
			} catch (err) {
				btn.disabled = false;
				toast(errorMessage(err), "error");
			}
		});
		action = input ? h("div", { class: "ack-form" }, input, btn) : btn;
	}
	return h(
		"li",
		{ class: `alert ${a.severity} ${a.open ? "open" : "cleared"}`, "data-alert-id": a.id },
		h("span", { class: "bar" }),
		h(
			"div",
			{},
			h("div", { class: "msg" }, a.message),
			h(
				"div",
				{ class: "meta" },
				[a.severity, a.message.startsWith(a.device) ? null : a.device, state].filter(Boolean).join(" · ")
			)
		),
		action
	);
}
