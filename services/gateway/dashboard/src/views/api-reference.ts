/**
 * API: a readable reference of GET /api/openapi.json (the document the gateway generates from
 * the services' params), grouped by service, with each route's parameters and their bounds.
 * Packaged with the dashboard: no viewer from a CDN, nothing fetched from the internet.
 */
import { h } from "../lib/dom";
import type { View } from "./view";

interface Schema {
	type?: string | string[];
	enum?: unknown[];
	minimum?: number;
	maximum?: number;
	exclusiveMinimum?: number;
	minLength?: number;
	maxLength?: number;
	pattern?: string;
	format?: string;
	anyOf?: Schema[];
	items?: Schema;
	properties?: Record<string, Schema>;
	required?: string[];
	default?: unknown;
}
interface Operation {
	summary?: string;
	tags?: string[];
	security?: unknown[];
	"x-auth"?: string;
	parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
	requestBody?: { content?: { "application/json"?: { schema: Schema } } };
	responses?: Record<string, unknown>;
}

/** "integer ≥ 1 ≤ 1000", "one of open, cleared", "string ≤ 200": a schema in a few words. */
export function describeSchema(s: Schema | undefined): string {
	if (!s) return "";
	if (s.anyOf) return s.anyOf.map(describeSchema).join(" or ");
	if (s.enum) return `one of ${s.enum.map(String).join(", ")}`;
	const type = Array.isArray(s.type) ? s.type.join("|") : (s.type ?? "any");
	const bits = [s.format ?? type];
	if (s.exclusiveMinimum != null) bits.push(`> ${s.exclusiveMinimum}`);
	if (s.minimum != null) bits.push(`≥ ${s.minimum}`);
	if (s.maximum != null) bits.push(`≤ ${s.maximum}`);
	if (s.minLength != null && s.minLength > 1) bits.push(`length ≥ ${s.minLength}`);
	if (s.maxLength != null) bits.push(`length ≤ ${s.maxLength}`);
	if (s.items) bits.push(`of ${describeSchema(s.items)}`);
	if (s.default !== undefined) bits.push(`default ${JSON.stringify(s.default)}`);
	return bits.join(" ");
}

export const apiView: View = {
	path: "api",
	title: "API",
	nav: "user",
	order: 85,
	icon: "{}",
	async render(el, ctx) {
		const doc = await ctx.api.get<{
			info: { title: string; version: string; description?: string };
			paths: Record<string, Record<string, Operation>>;
		}>("/api/openapi.json");
		const filter = h("input", {
			type: "search",
			name: "q",
			placeholder: "Filter routes…",
			"aria-label": "Filter routes"
		});
		const list = h("div", { class: "api-ref" });
		const render = () => {
			const q = filter.value.trim().toLowerCase();
			const groups = new Map<string, HTMLElement[]>();
			for (const [path, ops] of Object.entries(doc.paths)) {
				for (const [method, op] of Object.entries(ops)) {
					if (q && !`${method} ${path} ${op.summary ?? ""}`.toLowerCase().includes(q)) continue;
					const tag = op.tags?.[0] ?? "other";
					const params = [
						...(op.parameters ?? []).map(p => ({
							name: p.name,
							where: p.in,
							required: !!p.required,
							schema: p.schema
						})),
						...Object.entries(op.requestBody?.content?.["application/json"]?.schema?.properties ?? {}).map(
							([name, schema]) => ({
								name,
								where: "body",
								required: (
									op.requestBody?.content?.["application/json"]?.schema?.required ?? []
								).includes(name),
								schema
							})
						)
					];
					const access =
						Array.isArray(op.security) && op.security.length === 0
							? "public"
							: op["x-auth"] === "admin"
								? "administrators"
								: "signed in";
					const item = h(
						"details",
						{ class: "api-op", "data-op": `${method.toUpperCase()} ${path}` },
						h(
							"summary",
							{},
							h("span", { class: `method m-${method}` }, method.toUpperCase()),
							h("code", {}, path),
							h("span", { class: "muted small" }, ` ${access}`)
						),
						h(
							"div",
							{ class: "muted small" },
							op.summary ?? "",
							" · answers ",
							Object.keys(op.responses ?? {}).join(", ")
						),
						params.length
							? h(
									"table",
									{ class: "table" },
									h(
										"thead",
										{},
										h(
											"tr",
											{},
											h("th", {}, "Parameter"),
											h("th", {}, "In"),
											h("th", {}, "Type and bounds")
										)
									),
									h(
										"tbody",
										{},
										...params.map(p =>
											h(
												"tr",
												{},
												h(
													"td",
													{},
													h("code", {}, p.name),
													p.required
														? h("span", { class: "badge info-badge" }, "required")
														: null
												),
												h("td", {}, p.where),
												h("td", {}, describeSchema(p.schema))
											)
										)
									)
								)
							: h("div", { class: "muted small" }, "No parameters.")
					);
					let g = groups.get(tag);
					if (!g) groups.set(tag, (g = []));
					g.push(item);
				}
			}
			list.replaceChildren(
				...[...groups.entries()]
					.sort((a, b) => a[0].localeCompare(b[0]))
					.map(([tag, items]) => h("section", { class: "panel pad" }, h("h2", {}, tag), ...items))
			);
		};
		filter.addEventListener("input", render);
		el.append(
			h(
				"div",
				{ class: "view-head" },
				h("h1", {}, "API"),
				h(
					"span",
					{ class: "muted small" },
					`${doc.info.title} ${doc.info.version} · `,
					h("a", { href: "/api/openapi.json", target: "_blank" }, "openapi.json")
				)
			),
			h(
				"p",
				{ class: "muted small" },
				"Every list answers { items, nextCursor, total? } and pages by cursor; unknown query " +
					"parameters are 422; creates answer 201; errors are { name, message, code, type, data }."
			),
			h("div", { class: "toolbar" }, filter),
			list
		);
		render();
	}
};
