/**
 * Threshold rules: the list (one device's on its page, every visible one on the alerts view),
 * create, edit in place, enable/disable and delete. Backed by /api/monitoring/rules.
 */
import { h, select, toast } from "../lib/dom";
import type { DatapointView, DeviceView, RuleView } from "../types";
import type { ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export interface RulesOptions {
	/** One device's rules; without it, every rule the viewer may see (with a device picker). */
	deviceId?: number;
	datapoints?: () => DatapointView[];
}

const SEVERITIES: [string, string][] = [
	["warning", "warning"],
	["critical", "critical"],
	["info", "info"]
];

function ruleForm(
	initial: Partial<RuleView>,
	dpOptions: [string, string][] | null,
	submitLabel: string,
	onSubmit: (body: Record<string, unknown>) => Promise<void>,
	onCancel?: () => void
): HTMLFormElement {
	const dp = dpOptions
		? select("datapointId", dpOptions, String(initial.datapointId ?? ""), {
				required: true,
				"aria-label": "Datapoint"
			})
		: null;
	const direction = select(
		"direction",
		[
			["above", "above"],
			["below", "below"]
		],
		initial.direction ?? "above",
		{ "aria-label": "Direction" }
	);
	const threshold = h("input", {
		type: "number",
		step: "any",
		name: "threshold",
		required: true,
		value: initial.threshold ?? "",
		placeholder: "threshold",
		"aria-label": "Threshold"
	});
	const hysteresis = h("input", {
		type: "number",
		step: "any",
		min: 0,
		name: "hysteresis",
		value: initial.hysteresis ?? 0,
		"aria-label": "Hysteresis",
		title: "Hysteresis: how far back the value must come before the alert clears"
	});
	const duration = h("input", {
		type: "number",
		step: "any",
		min: 0,
		max: 86_400,
		name: "minDurationS",
		value: initial.minDurationS ?? 0,
		"aria-label": "Minimum duration (s)",
		title: "Seconds the value must stay across the threshold"
	});
	const severity = select("severity", SEVERITIES, initial.severity ?? "warning", { "aria-label": "Severity" });
	const submit = h("button", { class: "btn primary", type: "submit" }, submitLabel);
	const form = h(
		"form",
		{ class: "rule-form" },
		dp ? h("label", {}, "Datapoint", dp) : null,
		h("label", {}, "When", direction),
		h("label", {}, "Threshold", threshold),
		h("label", {}, "Hysteresis", hysteresis),
		h("label", {}, "For (s)", duration),
		h("label", {}, "Severity", severity),
		h(
			"div",
			{ class: "form-actions" },
			submit,
			onCancel
				? h("button", { class: "btn", type: "button", onclick: onCancel as EventListener }, "Cancel")
				: null
		)
	);
	form.addEventListener("submit", async e => {
		e.preventDefault();
		submit.disabled = true;
		try {
			await onSubmit({
				...(dp ? { datapointId: Number(dp.value) } : {}),
				direction: direction.value,
				threshold: Number(threshold.value),
				hysteresis: Number(hysteresis.value || 0),
				minDurationS: Number(duration.value || 0),
				severity: severity.value
			});
		} catch (err) {
			toast(errorMessage(err), "error");
		} finally {
			submit.disabled = false;
		}
	});
	return form;
}

export function rulesPanel(ctx: ViewContext, opts: RulesOptions): { el: HTMLElement; load(): Promise<void> } {
	const list = h("ul", { class: "rules" });
	const formHost = h("div", {});
	const addBtn = h("button", { class: "btn", type: "button", "data-action": "add-rule" }, "New rule");
	let devices: DeviceView[] = [];

	const dpOptions = (): [string, string][] => {
		if (opts.deviceId != null)
			return (opts.datapoints?.() ?? []).map(d => [String(d.id), `${d.label}${d.unit ? ` (${d.unit})` : ""}`]);
		return devices.flatMap(dev =>
			dev.datapoints.map(
				d => [String(d.id), `${dev.name} · ${d.label}${d.unit ? ` (${d.unit})` : ""}`] as [string, string]
			)
		);
	};

	addBtn.addEventListener("click", async () => {
		if (opts.deviceId == null && !devices.length)
			devices = (await ctx.api.all<DeviceView>("/api/monitoring/devices")).items;
		const options = dpOptions();
		if (!options.length) return toast("This device has no datapoints yet: a rule needs one.", "error");
		formHost.replaceChildren(
			ruleForm(
				{},
				options,
				"Create rule",
				async body => {
					await ctx.api.post<RuleView>("/api/monitoring/rules", body);
					formHost.replaceChildren();
					toast("Rule created.");
					await load();
				},
				() => formHost.replaceChildren()
			)
		);
	});

	const row = (r: RuleView): HTMLElement => {
		const li = h("li", { class: `rule ${r.enabled ? "" : "disabled"}`, "data-rule-id": r.id });
		const where = opts.deviceId == null && r.device ? `${r.device} · ` : "";
		const text =
			`${where}${r.datapoint ?? `datapoint ${r.datapointId}`} ` +
			`${r.direction} ${r.threshold}${r.unit ? ` ${r.unit}` : ""}`;
		const detail = [
			r.severity,
			r.hysteresis ? `hysteresis ${r.hysteresis}` : null,
			r.minDurationS ? `for ${r.minDurationS} s` : null,
			r.source === "profile" ? "from the profile" : null,
			r.enabled ? null : "disabled"
		]
			.filter(Boolean)
			.join(" · ");
		const edit = h("button", { class: "btn", type: "button", "data-action": "edit" }, "Edit");
		const toggle = h(
			"button",
			{ class: "btn", type: "button", "data-action": "toggle" },
			r.enabled ? "Disable" : "Enable"
		);
		const del = h("button", { class: "btn danger", type: "button", "data-action": "delete" }, "Delete");
		edit.addEventListener("click", () => {
			li.replaceChildren(
				ruleForm(
					r,
					null,
					"Save",
					async body => {
						await ctx.api.put<RuleView>(`/api/monitoring/rules/${r.id}`, body);
						toast("Rule saved.");
						await load();
					},
					() => void load()
				)
			);
		});
		toggle.addEventListener("click", async () => {
			try {
				await ctx.api.put(`/api/monitoring/rules/${r.id}`, { enabled: !r.enabled });
				await load();
			} catch (err) {
				toast(errorMessage(err), "error");
			}
		});
		del.addEventListener("click", async () => {
			if (!confirm(`Delete the rule "${text}"? Its open alert is cleared; past alerts stay.`)) return;
			try {
				await ctx.api.del(`/api/monitoring/rules/${r.id}`);
				toast("Rule deleted.");
				await load();
			} catch (err) {
				toast(errorMessage(err), "error");
			}
		});
		li.append(
			h("div", { class: "grow" }, h("div", { class: "rule-text" }, text), h("div", { class: "meta" }, detail)),
			h("div", { class: "row-actions" }, edit, toggle, del)
		);
		return li;
	};

	const load = async () => {
		const page = await ctx.api.page<RuleView>(
			"/api/monitoring/rules",
			opts.deviceId != null ? { device: opts.deviceId } : {}
		);
		if (opts.deviceId == null && !devices.length)
			devices = (await ctx.api.all<DeviceView>("/api/monitoring/devices")).items;
		const named = page.items.map(r => ({ ...r, device: r.device ?? devices.find(d => d.id === r.deviceId)?.name }));
		list.replaceChildren(
			...(named.length ? named.map(row) : [h("li", { class: "empty" }, "No threshold rules yet.")])
		);
	};

	const el = h(
		"section",
		{ class: "rules-panel", "aria-label": "Rules" },
		h("div", { class: "section-head" }, h("h2", {}, "Threshold rules"), addBtn),
		h("div", { class: "panel" }, formHost, list)
	);
	return { el, load };
}
