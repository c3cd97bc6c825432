/**
 * Builds: the OpenWrt firmware build service at a glance (GET /api/builds/recent): the queue,
 * which builder runs (and a warning when its images are simulated), recent builds with their
 * status and download links, and builds per day over 30 days.
 */
import { ago, fmtTime, h } from "../lib/dom";
import type { View } from "./view";
import type { BuildsOverview } from "../types";

/** Bars for requests, cache hits and failures per day (plain DOM: one column per day). */
function perDayChart(perDay: BuildsOverview["perDay"]): HTMLElement {
	const max = Math.max(1, ...perDay.datasets.flatMap(d => d.data));
	const cls = ["req", "hit", "fail"];
	return h(
		"div",
		{ class: "builds-chart", role: "img", "aria-label": "Builds per day, last 30 days" },
		...perDay.labels.map((label, i) =>
			h(
				"div",
				{ class: "day", title: `${label}: ${perDay.datasets.map(d => `${d.label} ${d.data[i]}`).join(", ")}` },
				...perDay.datasets.map((d, j) =>
					h("span", { class: `bar ${cls[j]}`, style: `height:${Math.round((d.data[i] / max) * 100)}%` })
				)
			)
		)
	);
}

export const buildsView: View = {
	path: "builds",
	title: "Builds",
	nav: "user",
	order: 60,
	icon: "⚙",
	render(el, ctx) {
		const banner = h("div", {});
		const stats = h("div", { class: "stats builds-stats" });
		const chart = h("div", { class: "panel pad" });
		const body = h("tbody", { id: "builds-recent" });
		el.append(
			h(
				"div",
				{ class: "view-head" },
				h("h1", {}, "Builds"),
				h("span", { class: "muted small" }, "OpenWrt attended sysupgrade (owut, LuCI, auc)")
			),
			banner,
			h("section", { class: "panel pad", "aria-label": "Queue" }, stats),
			h("section", { "aria-label": "Builds per day" }, h("h2", {}, "Builds per day"), chart),
			h(
				"section",
				{ class: "panel table-wrap", "aria-label": "Recent builds" },
				h(
					"table",
					{ class: "table" },
					h(
						"thead",
						{},
						h(
							"tr",
							{},
							h("th", {}, "When"),
							h("th", {}, "Status"),
							h("th", {}, "Device"),
							h("th", {}, "Version"),
							h("th", { class: "num" }, "Time"),
							h("th", {}, "Images")
						)
					),
					body
				)
			)
		);
		ctx.every(5_000, async () => {
			const o = await ctx.api.get<BuildsOverview>("/api/builds/recent");
			banner.replaceChildren(
				o.simulated
					? h(
							"div",
							{ class: "panel pad warn-banner", id: "builds-simulated" },
							"Simulated ImageBuilder: the images built here are stand-ins for testing, not " +
								"firmware. Do not flash them."
						)
					: "",
				o.problem ? h("div", { class: "panel pad warn-banner" }, `Builds are not available: ${o.problem}`) : ""
			);
			const stat = (k: string, v: string | number) =>
				h("div", { class: "stat" }, h("div", { class: "k" }, k), h("div", { class: "v" }, String(v)));
			const lookups = o.counts.cacheHits + o.counts.cacheMisses;
			const hitRatio = lookups > 0 ? `${Math.round((o.counts.cacheHits / lookups) * 100)} %` : "—";
			stats.replaceChildren(
				stat("Queued", o.queue.waiting),
				stat("Building", o.queue.active),
				stat("Queue", o.queue.kind === "bullmq" ? "Redis (BullMQ)" : "in-process"),
				stat("Builder", o.builder ?? "none"),
				stat("Builds", o.counts.successes),
				stat("Failures", o.counts.failures),
				stat("Cache hits", hitRatio)
			);
			chart.replaceChildren(
				perDayChart(o.perDay),
				h("div", { class: "muted small" }, "green: requests · orange: cache hits · red: failures")
			);
			body.replaceChildren(
				...(o.items.length
					? o.items.map(b =>
							h(
								"tr",
								{ "data-hash": b.requestHash },
								h("td", { title: fmtTime(b.at) }, ago(b.at)),
								h(
									"td",
									{},
									h(
										"span",
										{
											class: `badge ${b.status === "done" ? "streaming" : "error"}`,
											title: b.error ?? ""
										},
										b.status
									)
								),
								h("td", {}, `${b.target} · ${b.profile}`),
								h("td", {}, b.version),
								h(
									"td",
									{ class: "num" },
									b.durationMs != null ? `${(b.durationMs / 1000).toFixed(1)} s` : "—"
								),
								h(
									"td",
									{},
									b.status === "done"
										? b.images.map(i =>
												h(
													"a",
													{
														href: `/store/${b.requestHash}/${encodeURIComponent(i.name)}`,
														download: i.name,
														class: "chip"
													},
													`${i.filesystem} ${i.type}`
												)
											)
										: h("span", { class: "muted small" }, b.error ?? "")
								)
							)
						)
					: [
							h(
								"tr",
								{},
								h(
									"td",
									{ colspan: 6, class: "muted" },
									"No builds yet. Point owut or LuCI at this server to build firmware."
								)
							)
						])
			);
		});
	}
};
