/** DOM and formatting helpers shared by every view (no framework: a tiny `h()` builds elements). */
import { LOCALE } from "./locale";

export { LOCALE };

export type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

/** `h("button", { class: "btn", onclick: fn }, "Save")`: attributes, `on*` listeners, children. */
export function h<K extends keyof HTMLElementTagNameMap>(
	tag: K,
	attrs: Attrs = {},
	...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v == null || v === false) continue;
		if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
		else if (k === "class") el.className = String(v);
		else if (
			k === "value" &&
			(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)
		)
			el.value = String(v);
		else el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children.flat()) if (c != null && c !== false) el.append(c);
	return el;
}

/** A `<select>` with options [value, label]; `selected` picks one. */
export function select(name: string, options: [string, string][], selected = "", attrs: Attrs = {}): HTMLSelectElement {
	return h(
		"select",
		{ name, ...attrs },
		...options.map(([v, l]) => h("option", { value: v, selected: v === selected }, l))
	);
}

const fmtNumber = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });

/** Latitude and longitude: shown with 6 decimals (about 0.1 m), not rounded to a kilometre. */
export function isCoordinate(label?: string | null): boolean {
	return !!label && /^(lat(itude)?|lon(gitude)?|lng)$/i.test(label);
}

/** A reading for a value tile: 2 decimals, thousands grouped; coordinates keep 6 decimals. */
export function fmtValue(v: number | null | undefined, unit?: string | null, label?: string | null): string {
	if (v == null || !Number.isFinite(v)) return "—";
	if (isCoordinate(label)) return v.toFixed(6);
	return Math.abs(v) >= 10_000 ? Math.round(v).toLocaleString(LOCALE) : fmtNumber.format(v);
}

/** Axis labels with just enough decimals to tell neighbouring ticks apart (GPS degrees move in the 4th). */
export function tickLabels(ticks: number[]): string[] {
	const inc = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
	let d = 0;
	while (d < 6 && ticks.some(t => Math.abs(Number(t.toFixed(d)) - t) > inc * 1e-3)) d++;
	return ticks.map(t => (Math.abs(t) >= 10_000 ? Math.round(t).toLocaleString(LOCALE) : t.toFixed(d)));
}

export function ago(iso: string | number | null | undefined): string {
	if (iso == null) return "never";
	const t = typeof iso === "number" ? iso : Date.parse(iso);
	const s = Math.max(0, Math.round((Date.now() - t) / 1000));
	if (s < 5) return "just now";
	if (s < 60) return `${s} s ago`;
	if (s < 3600) return `${Math.round(s / 60)} min ago`;
	if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
	return new Date(t).toLocaleDateString(LOCALE);
}

/** Absolute local time, for titles and tables: "2026-12-01 21:54:38". */
export function fmtTime(iso: string | number | null | undefined): string {
	if (iso == null) return "—";
	const d = new Date(iso);
	const p = (n: number) => String(n).padStart(2, "0");
	return (
		`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
		`${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
	);
}

export function fmtDuration(s: number): string {
	if (s < 60) return `${Math.round(s)} s`;
	if (s < 3600) return `${Math.round(s / 60)} min`;
	if (s < 86_400) return `${(s / 3600).toFixed(1)} h`;
	return `${(s / 86_400).toFixed(1)} d`;
}

export function fmtBytes(n: number): string {
	if (n < 1024) return `${n} B`;
	if (n < 1024 ** 2) return `${(n / 1024).toFixed(0)} KiB`;
	if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
	return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

export function cssVar(name: string): string {
	return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** A short message at the bottom of the screen (saved, failed, copied). */
export function toast(message: string, kind: "ok" | "error" = "ok"): void {
	let host = document.getElementById("toasts");
	if (!host) document.body.append((host = h("div", { id: "toasts", role: "status" })));
	const t = h("div", { class: `toast ${kind}` }, message);
	host.append(t);
	setTimeout(() => t.remove(), kind === "error" ? 6000 : 3000);
}

/** Offers `text` as a file download (CSV export). */
export function download(filename: string, text: string, type = "text/csv"): void {
	const url = URL.createObjectURL(new Blob([text], { type }));
	const a = h("a", { href: url, download: filename });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 1000);
}
