/**
 * One device's page (`#/devices/<id>`): status, profile, node, owner, last seen; its datapoints
 * with units and latest values (stale ones marked); the history chart; its alerts and threshold
 * rules; the lifecycle events; rename, owner assignment (administrators) and delete.
 */
import { ApiError } from "../api";
import { ago, fmtTime, fmtValue, h, toast } from "../lib/dom";
import type { AlertView, DeviceRecord, DeviceStatusView, DeviceView, LiveReading, UserView } from "../types";
import { alertItem } from "./alerts-list";
import { isStale } from "./device-card";
import { statusBadge } from "./devices";
import { HistoryPanel } from "./history";
import { rulesPanel } from "./rules";
import type { ViewContext } from "./view";
import { errorMessage } from "../../../../shared/error-message";

export async function renderDevicePage(el: HTMLElement, ctx: ViewContext, id: number): Promise<void> {
	const api = ctx.api;
	el.append(h("div", { class: "panel empty" }, "Loading device…"));
	let record: DeviceRecord;
	let view: DeviceView | undefined;
	try {
		[record, view] = await Promise.all([
			api.get<DeviceRecord>(`/api/devices/${id}`),
			api.page<DeviceView>("/api/monitoring/devices", { device: id }).then(p => p.items[0])
		]);
	} catch (err) {
		el.replaceChildren(
			h("p", {}, h("a", { href: "#/devices" }, "← Devices")),
			h(
				"div",
				{ class: "panel empty" },
				err instanceof ApiError && err.status === 404
					? `Device #${id} does not exist, or you may not see it.`
					: `This device could not be loaded: ${errorMessage(err)}`
			)
		);
		return;
	}
	const nodeOf = (r: DeviceRecord) => r.nodeID ?? view?.nodeID ?? null;
	const history = new HistoryPanel(api, id);
	ctx.onCleanup(() => history.destroy());

	// ---- header: name (rename), status, facts ----
	const nameEl = h("h1", { class: "device-title" }, record.name);
	const renameBtn = h("button", { class: "btn", type: "button", "data-action": "rename" }, "Rename");
	const badgeHost = h("span", {}, statusBadge(view?.status ?? record.status));
	const facts = h("dl", { class: "facts" });
	// Last seen: when the device last reported, or its newest stored reading (seeded or imported data).
	const lastSeen = () => {
		const t = Math.max(
			view?.lastSeen ? Date.parse(view.lastSeen) : 0,
			...(view?.datapoints ?? []).map(d => (d.ts ? Date.parse(d.ts) : 0))
		);
		return h("span", { class: !t || isStale(t) ? "stale" : "", title: t ? fmtTime(t) : "" }, t ? ago(t) : "never");
	};
	const renderFacts = () => {
		const rows: [string, Node | string][] = [
			["Status", view?.status ?? record.status],
			["Last seen", lastSeen()],
			["Profile", record.profile ?? "none (unidentified)"],
			["Type", record.type],
			["Node", nodeOf(record) ?? "—"],
			[
				"Owner",
				record.owner != null
					? ctx.user.admin
						? ownerName(record.owner)!
						: record.owner === ctx.user.id
							? "you"
							: String(record.owner)
					: "nobody (administrators only)"
			],
			["Device id", `#${record.id}`]
		];
		if (record.path) rows.push(["Path", record.path]);
		if (record.vid || record.pid) rows.push(["USB id", `${record.vid ?? "?"}:${record.pid ?? "?"}`]);
		if (record.serial) rows.push(["Serial", record.serial]);
		if (record.mac) rows.push(["MAC", record.mac]);
		facts.replaceChildren(
			...rows.flatMap(([k, v]) => [
				h("dt", {}, k),
				h("dd", { "data-fact": k.toLowerCase().replace(/\s+/g, "-") }, v)
			])
		);
	};
	renameBtn.addEventListener("click", () => {
		const input = h("input", {
			type: "text",
			name: "name",
			value: record.name,
			maxlength: 200,
			"aria-label": "Device name"
		});
		const save = h("button", { class: "btn primary", type: "submit" }, "Save");
		const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
		const form = h("form", { class: "inline-form" }, input, save, cancel);
		cancel.addEventListener("click", () => form.replaceWith(nameEl));
		form.addEventListener("submit", async e => {
			e.preventDefault();
			const name = input.value.trim();
			if (!name) return toast("A name cannot be empty.", "error");
			save.disabled = true;
			try {
				record = { ...record, ...(await api.put<DeviceRecord>(`/api/devices/${id}`, { name })) };
				nameEl.textContent = record.name;
				form.replaceWith(nameEl);
				toast("Renamed.");
				void loadEvents();
			} catch (err) {
				save.disabled = false;
				toast(errorMessage(err), "error");
			}
		});
		nameEl.replaceWith(form);
		input.select();
	});
	const deleteBtn = h("button", { class: "btn danger", type: "button", "data-action": "delete" }, "Delete");
	deleteBtn.addEventListener("click", async () => {
		if (
			!confirm(
				`Delete ${record.name}? Its readings stay in the database, the device record and its ` +
					`datapoints go. A device that is plugged in again is registered anew.`
			)
		)
			return;
		try {
			await api.del(`/api/devices/${id}`);
			toast(`${record.name} deleted.`);
			ctx.navigate("devices");
		} catch (err) {
			toast(errorMessage(err), "error");
		}
	});

	// ---- owner (administrators) ----
	let ownerPanel: HTMLElement | null = null;
	let users: UserView[] = [];
	const ownerName = (o: number | string | null) =>
		o == null ? null : (users.find(u => u.id === Number(o))?.email ?? `user #${o}`);
	if (ctx.user.admin) {
		const ownerSelect = h(
			"select",
			{ name: "owner", "aria-label": "Owner" },
			h("option", { value: "" }, "nobody (administrators only)")
		);
		const fillOwners = () =>
			ownerSelect.replaceChildren(
				h("option", { value: "" }, "nobody (administrators only)"),
				...users.map(u => h("option", { value: u.id, selected: Number(record.owner) === u.id }, u.email))
			);
		api.all<UserView>("/api/users", { limit: 100 })
			.then(p => {
				users = p.items;
				fillOwners();
				renderFacts();
			})
			.catch(() => undefined);
		const assign = h("button", { class: "btn", type: "submit" }, "Assign owner");
		ownerPanel = h(
			"form",
			{ class: "inline-form owner-form", "aria-label": "Owner" },
			h("label", {}, "Owner ", ownerSelect),
			assign
		);
		ownerPanel.addEventListener("submit", async e => {
			e.preventDefault();
			assign.disabled = true;
			try {
				const owner = ownerSelect.value ? Number(ownerSelect.value) : null;
				record = { ...record, ...(await api.put<DeviceRecord>(`/api/devices/${id}`, { owner })) };
				renderFacts();
				toast(record.owner != null ? `Owner is now ${ownerName(record.owner)}.` : "Owner cleared.");
				void loadEvents();
			} catch (err) {
				toast(errorMessage(err), "error");
			} finally {
				assign.disabled = false;
			}
		});
	}

	// ---- datapoints ----
	const dpBody = h("tbody", {});
	const renderDatapoints = () => {
		const dps = view?.datapoints ?? [];
		if (!dps.length) {
			dpBody.replaceChildren(
				h(
					"tr",
					{},
					h(
						"td",
						{ colspan: 4, class: "muted" },
						"No datapoints yet: this device has not reported any readings."
					)
				)
			);
			return;
		}
		dpBody.replaceChildren(
			...dps.map(dp =>
				h(
					"tr",
					{ "data-dp": dp.id, class: isStale(dp.ts) ? "stale" : "" },
					h("td", {}, dp.label),
					h("td", { class: "num" }, fmtValue(dp.value, dp.unit, dp.label)),
					h("td", {}, dp.unit ?? ""),
					h(
						"td",
						{ class: "muted", title: dp.ts ? fmtTime(dp.ts) : "" },
						dp.ts ? `${ago(dp.ts)}${isStale(dp.ts) ? " · stale" : ""}` : "no reading yet"
					)
				)
			)
		);
	};

	// ---- alerts and events ----
	const alertsEl = h("ul", { class: "alerts" });
	const loadAlerts = async () => {
		const page = await api.page<AlertView>("/api/monitoring/alerts", { device: id, status: "all", limit: 20 });
		alertsEl.replaceChildren(
			...(page.items.length
				? page.items.map(a => alertItem(a, ctx, () => void loadAlerts(), { comment: true }))
				: [h("li", { class: "empty" }, "No alerts for this device.")])
		);
	};
	const eventsEl = h("ol", { class: "events" });
	const loadEvents = async () => {
		const { events } = await api.get<DeviceStatusView>(`/api/devices/${id}/status`);
		eventsEl.replaceChildren(
			...(events.length
				? events.map(ev =>
						h(
							"li",
							{ class: "event" },
							h("span", { class: "event-time", title: fmtTime(ev.at) }, ago(ev.at)),
							h("span", { class: "event-type" }, ev.type),
							ev.status ? statusBadge(ev.status) : null,
							h(
								"span",
								{ class: "muted" },
								[ev.reason, ev.nodeID ? `on ${ev.nodeID}` : null].filter(Boolean).join(" · ")
							)
						)
					)
				: [h("li", { class: "empty" }, "No lifecycle events recorded.")])
		);
	};

	const rules = rulesPanel(ctx, { deviceId: id, datapoints: () => view?.datapoints ?? [] });

	renderFacts();
	renderDatapoints();
	el.replaceChildren(
		h("p", { class: "crumbs" }, h("a", { href: "#/devices" }, "← Devices")),
		h("div", { class: "device-header" }, nameEl, badgeHost, h("span", { class: "spacer" }), renameBtn, deleteBtn),
		h(
			"div",
			{ class: "device-grid" },
			h("section", { class: "panel pad", "aria-label": "Details" }, h("h2", {}, "Details"), facts, ownerPanel),
			h(
				"section",
				{ class: "panel pad", "aria-label": "Datapoints" },
				h("h2", {}, "Datapoints"),
				h(
					"table",
					{ class: "table dp-table" },
					h(
						"thead",
						{},
						h(
							"tr",
							{},
							h("th", {}, "Datapoint"),
							h("th", { class: "num" }, "Value"),
							h("th", {}, "Unit"),
							h("th", {}, "Updated")
						)
					),
					dpBody
				)
			)
		),
		history.el,
		h(
			"div",
			{ class: "device-grid" },
			h("section", { "aria-label": "Alerts" }, h("h2", {}, "Alerts"), h("div", { class: "panel" }, alertsEl)),
			rules.el
		),
		h(
			"section",
			{ "aria-label": "Lifecycle" },
			h("h2", {}, "Lifecycle events"),
			h("div", { class: "panel" }, eventsEl)
		)
	);
	history.setDatapoints(view?.datapoints ?? []);

	ctx.live.join([`device:${id}`]);
	ctx.on("readings", (msg: { deviceId: number; readings: LiveReading[] }) => {
		if (msg.deviceId !== id || !view) return;
		for (const r of msg.readings) {
			let dp = view.datapoints.find(p => p.id === r.datapointId);
			if (!dp)
				view.datapoints.push((dp = { id: r.datapointId, label: r.label, unit: r.unit, value: null, ts: null }));
			dp.value = r.value;
			dp.ts = new Date(r.ts).toISOString();
		}
		view.lastSeen = new Date().toISOString();
		history.setDatapoints(view.datapoints);
		history.addReadings(msg.readings);
		renderDatapoints();
	});
	ctx.on("device.status", (msg: { deviceId: number; status: string }) => {
		if (msg.deviceId !== id) return;
		if (view) view.status = msg.status;
		badgeHost.replaceChildren(statusBadge(msg.status));
		renderFacts();
		void loadEvents();
	});
	ctx.on("alert", (a: AlertView) => {
		if (a.deviceId === id) void loadAlerts();
	});
	ctx.every(15_000, async () => {
		view = (await api.page<DeviceView>("/api/monitoring/devices", { device: id })).items[0] ?? view;
		renderFacts();
		renderDatapoints();
	});
	await Promise.all([loadAlerts(), loadEvents(), rules.load()]).catch(err => toast(errorMessage(err), "error"));
}
