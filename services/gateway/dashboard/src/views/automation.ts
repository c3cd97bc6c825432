/**
 * Automation: rules with their trigger state, schedules with their next runs (preview), the
 * history with each run's trace, and a command form for a device (`/api/automation`).
 */
import type { CommandApi, HistoryEntry, RuleApi, ScheduleApi } from "../../../../shared/contracts/automation";
import { ago, fmtTime, h, select } from "../lib/dom";
import type { DeviceView } from "../types";
import type { View, ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export const automationView: View = {
	path: "automation",
	title: "Automation",
	nav: "user",
	order: 70,
	icon: "⚙",
	render(el, ctx) {
		new AutomationPage(el, ctx);
	}
};

const A = "/api/automation";

function triggerText(r: RuleApi): string {
	const t = r.trigger;
	const held = t.for && t.for !== "0s" ? ` for ${t.for}` : "";
	if (t.type === "device_status") return `device #${t.deviceId} ${t.to}${held}`;
	const band = [t.above != null ? `> ${t.above}` : null, t.below != null ? `< ${t.below}` : null]
		.filter(Boolean)
		.join(" and ");
	return `#${t.deviceId} ${t.datapoint} ${band}${held}`;
}

function stateText(r: RuleApi): string {
	if (!r.state.length) return "armed";
	return r.state
		.map(
			s =>
				(s.pendingSince
					? `waiting since ${fmtTime(s.pendingSince)}`
					: s.armed
						? "armed"
						: "fired, re-arms past the threshold") +
				(s.lastFiredAt ? ` · last fired ${ago(s.lastFiredAt)}` : "")
		)
		.join("; ");
}

class AutomationPage {
	private rulesEl = h("tbody", { id: "automation-rules" });
	private schedulesEl = h("tbody", { id: "automation-schedules" });
	private historyEl = h("ul", { id: "automation-history", style: "margin:0;padding:0;list-style:none" });
	private devices: DeviceView[] = [];

	constructor(
		el: HTMLElement,
		private readonly ctx: ViewContext
	) {
		const table = (head: string[], body: HTMLElement) =>
			h("table", { class: "table" }, h("thead", {}, h("tr", {}, ...head.map(c => h("th", {}, c)))), body);
		el.append(
			h("div", { class: "view-head" }, h("h1", {}, "Automation")),
			h("h2", {}, "Rules"),
			h("div", { class: "panel" }, table(["Name", "Trigger", "State", "Mode", ""], this.rulesEl)),
			h("h2", {}, "Schedules"),
			h("div", { class: "panel" }, table(["Name", "When", "Next runs", "Last run", ""], this.schedulesEl)),
			h("h2", {}, "Command a device"),
			this.commandForm(),
			h("h2", {}, "History"),
			h("div", { class: "panel" }, this.historyEl)
		);
		ctx.api
			.all<DeviceView>("/api/monitoring/devices")
			.then(({ items }) => {
				this.devices = items.sort((a, b) => a.name.localeCompare(b.name));
				this.deviceSelect.append(
					...this.devices.map(d => h("option", { value: d.id }, `${d.name} (#${d.id})`))
				);
			})
			.catch(() => undefined);
		ctx.every(3000, () => this.load());
	}

	private async load(): Promise<void> {
		const [rules, schedules, history] = await Promise.all([
			this.ctx.api.page<RuleApi>(`${A}/rules`, { limit: 100 }),
			this.ctx.api.page<ScheduleApi>(`${A}/schedules`, { limit: 100 }),
			this.ctx.api.page<HistoryEntry>(`${A}/history`, { limit: 30 })
		]);
		this.rulesEl.replaceChildren(
			...(rules.items.length
				? rules.items.map(r => this.ruleRow(r))
				: [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No rules yet."))])
		);
		this.schedulesEl.replaceChildren(
			...(schedules.items.length
				? schedules.items.map(s => this.scheduleRow(s))
				: [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No schedules yet."))])
		);
		this.historyEl.replaceChildren(
			...(history.items.length
				? history.items.map(e => historyItem(e))
				: [h("li", { class: "empty" }, "Nothing has run yet.")])
		);
	}

	private ruleRow(r: RuleApi): HTMLElement {
		const toggle = h("button", { class: "btn", type: "button" }, r.enabled ? "Disable" : "Enable");
		toggle.addEventListener("click", async () => {
			toggle.disabled = true;
			await this.ctx.api
				.put(`${A}/rules/${r.id}`, { enabled: !r.enabled })
				.catch(err => alert(errorMessage(err)));
			await this.load();
		});
		return h(
			"tr",
			{ "data-rule": r.id },
			h("td", {}, r.name),
			h("td", {}, triggerText(r)),
			h(
				"td",
				{},
				r.enabled
					? stateText(r)
					: h(
							"span",
							{ class: "badge error" },
							r.disabledReason ? `disabled: ${r.disabledReason}` : "disabled"
						)
			),
			h("td", {}, r.mode),
			h("td", {}, toggle)
		);
	}

	private scheduleRow(s: ScheduleApi): HTMLElement {
		const next = h("td", { class: "small" }, s.enabled ? "…" : "disabled");
		if (s.enabled) {
			this.ctx.api
				.post<{ runs: string[] }>(`${A}/schedules/preview`, {
					...(s.cron ? { cron: s.cron, timezone: s.timezone } : { interval: s.interval }),
					...(s.startAt ? { startAt: s.startAt } : {}),
					count: 3
				})
				.then(p =>
					next.replaceChildren(...p.runs.flatMap((t, i) => (i ? [h("br"), fmtTime(t)] : [fmtTime(t)])))
				)
				.catch(() => (next.textContent = s.nextRunAt ? fmtTime(s.nextRunAt) : "—"));
		}
		const toggle = h("button", { class: "btn", type: "button" }, s.enabled ? "Disable" : "Enable");
		toggle.addEventListener("click", async () => {
			toggle.disabled = true;
			await this.ctx.api
				.put(`${A}/schedules/${s.id}`, { enabled: !s.enabled })
				.catch(err => alert(errorMessage(err)));
			await this.load();
		});
		return h(
			"tr",
			{ "data-schedule": s.id },
			h("td", {}, s.name),
			h("td", {}, s.cron ? `${s.cron} (${s.timezone})` : `every ${s.interval}`),
			next,
			h("td", {}, s.lastRunAt ? ago(s.lastRunAt) : "never"),
			h("td", {}, toggle)
		);
	}

	private deviceSelect = select("device", [], "", { "aria-label": "Device" });

	private commandForm(): HTMLElement {
		const action = select(
			"action",
			[
				["write", "write"],
				["close", "close"]
			],
			"write",
			{ "aria-label": "Action" }
		);
		const line = h("input", { name: "line", placeholder: "line, e.g. LED:1" });
		const register = h("input", { name: "register", type: "number", min: 0, max: 65535, placeholder: "register" });
		const value = h("input", { name: "value", type: "number", placeholder: "value" });
		const ttl = h("input", { name: "ttl", value: "1m", size: 5, "aria-label": "TTL" });
		const out = h("div", { class: "muted small", id: "automation-command-result" });
		const send = h("button", { class: "btn primary", type: "submit" }, "Send");
		const form = h(
			"form",
			{ class: "panel toolbar", id: "automation-command" },
			this.deviceSelect,
			action,
			line,
			register,
			value,
			ttl,
			send,
			out
		);
		form.addEventListener("submit", async ev => {
			ev.preventDefault();
			const params =
				action.value === "close"
					? {}
					: line.value
						? { line: line.value }
						: { register: Number(register.value), value: Number(value.value) };
			send.disabled = true;
			out.textContent = "sending…";
			try {
				const cmd = await this.ctx.api.post<CommandApi>(`${A}/devices/${this.deviceSelect.value}/command`, {
					action: action.value,
					params,
					ttl: ttl.value || undefined,
					wait: 5000
				});
				out.textContent = `command #${cmd.id}: ${cmd.status}${cmd.error ? ` (${cmd.error.message})` : ""}`;
				await this.load();
			} catch (err) {
				out.textContent = errorMessage(err);
			} finally {
				send.disabled = false;
			}
		});
		return form;
	}
}

function historyItem(e: HistoryEntry): HTMLElement {
	const what =
		e.source === "rule"
			? `rule #${e.ruleId}`
			: e.source === "schedule"
				? `schedule #${e.scheduleId}`
				: `manual command on #${e.deviceId}`;
	const badge =
		e.status === "succeeded"
			? "streaming"
			: ["failed", "partial", "suppressed"].includes(e.status)
				? "error"
				: "identified";
	return h(
		"li",
		{ "data-run": e.id, style: "padding:0.55rem 1rem;border-top:1px solid var(--line)" },
		h(
			"details",
			{},
			h(
				"summary",
				{ style: "cursor:pointer" },
				h("span", { class: `badge ${badge}` }, e.status),
				` ${what}${e.misfired ? " (catch-up)" : ""}`,
				h("span", { class: "muted small" }, ` · ${fmtTime(e.startedAt)}`)
			),
			h(
				"ol",
				{ class: "small trace", style: "margin:0.4rem 0 0.2rem 1.4rem;padding:0" },
				...e.trace.map(s =>
					h(
						"li",
						{},
						`${s.ok ? "✓" : "✗"} ${s.path} ${s.step}`,
						s.detail ? h("span", { class: "muted" }, ` ${JSON.stringify(s.detail)}`) : null
					)
				)
			),
			e.commands.length
				? h(
						"div",
						{ class: "small muted", style: "margin-left:1.4rem" },
						...e.commands.map(c =>
							h(
								"div",
								{},
								`command #${c.id} → device #${c.deviceId} ${c.action} ` +
									`${JSON.stringify(c.params)}: ${c.status}`
							)
						)
					)
				: null
		)
	);
}
