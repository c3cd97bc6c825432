/** Mesh: every node with its connection state, services, uptime, load and memory (GET /api/nodes). */
import { ago, fmtBytes, fmtDuration, h } from "../lib/dom";
import type { NodeView } from "../types";
import type { View } from "./view";

export const meshView: View = {
	path: "mesh",
	title: "Mesh",
	nav: "user",
	order: 40,
	icon: "⬡",
	render(el, ctx) {
		const list = h(
			"div",
			{ class: "node-grid", id: "mesh-nodes" },
			h("div", { class: "panel empty" }, "Loading nodes…")
		);
		const count = h("span", { class: "muted small" });
		el.append(h("div", { class: "view-head" }, h("h1", {}, "Mesh"), count), list);
		ctx.every(5_000, async () => {
			const nodes = (
				await ctx.api.page<NodeView & { cores?: number; offlineSince?: string; processMemory?: number }>(
					"/api/nodes"
				)
			).items;
			nodes.sort((a, b) => Number(b.available) - Number(a.available) || a.id.localeCompare(b.id));
			count.textContent = `${nodes.filter(n => n.available).length} of ${nodes.length} nodes connected`;
			list.replaceChildren(
				...nodes.map(n => {
					const memUsed = n.memory ? 1 - n.memory.free / n.memory.total : null;
					const stat = (k: string, v: string, title = "") =>
						h("div", { class: "stat", title }, h("div", { class: "k" }, k), h("div", { class: "v" }, v));
					return h(
						"article",
						{ class: `panel node-card ${n.available ? "" : "down"}`, "data-node": n.id },
						h(
							"div",
							{ class: "node-head" },
							h("span", { class: "dot" }),
							h("span", { class: "grow" }, n.id),
							n.local ? h("span", { class: "chip" }, "this node") : null,
							h(
								"span",
								{ class: `badge ${n.available ? "streaming" : "error"}` },
								n.available ? "connected" : "disconnected"
							)
						),
						h(
							"div",
							{ class: "muted small" },
							[
								n.hostname,
								n.ipList?.[0],
								n.client?.version ? `moleculer ${n.client.version}` : null,
								n.client?.langVersion ? `node ${n.client.langVersion}` : null
							]
								.filter(Boolean)
								.join(" · ")
						),
						h(
							"div",
							{ class: "stats" },
							stat("Uptime", n.uptime != null ? fmtDuration(n.uptime) : "—", "process uptime"),
							stat("CPU", n.cpu != null ? `${Math.round(n.cpu)} %` : "—"),
							stat(
								"Load",
								n.load ? n.load.map(l => l.toFixed(2)).join(" ") : "—",
								"1, 5 and 15 minute load average"
							),
							stat(
								"Memory",
								n.memory ? `${Math.round((memUsed ?? 0) * 100)} % of ${fmtBytes(n.memory.total)}` : "—",
								"host memory in use"
							),
							stat(
								"Heartbeat",
								n.local
									? "this node"
									: n.available
										? n.lastHeartbeat
											? ago(n.lastHeartbeat)
											: "—"
										: n.offlineSince
											? `offline ${ago(n.offlineSince)}`
											: "offline"
							)
						),
						memUsed != null
							? h(
									"div",
									{ class: "meter", title: "memory in use" },
									h("span", { style: `width:${Math.round(memUsed * 100)}%` })
								)
							: null,
						h("div", { class: "chips" }, ...n.services.map(s => h("span", { class: "chip" }, s)))
					);
				})
			);
		});
	}
};
