/**
 * Map: every device that reports a position (latitude and longitude datapoints: the NMEA GPS
 * profile, the simulator's GPS) on an offline vector outline of the world's land (lib/geo.ts: no
 * tiles, nothing fetched but the API), zoomed to the fleet's extent, with the coordinates at full
 * precision in a readout. Wheel or +/− zoom, drag pans, "Fit fleet" and "World" reset the view.
 */
import { ago, fmtValue, h } from "../lib/dom";
import {
	fitBox,
	graticuleStep,
	landPath,
	project,
	scaleX,
	toPixels,
	unproject,
	worldBox,
	zoomBox,
	type Point,
	type ViewBox
} from "../lib/geo";
import type { DeviceView } from "../types";
import type { View } from "./view";

const SVG = "http://www.w3.org/2000/svg";
const LAT = /^lat(itude)?$/i;
const LON = /^(lon(gitude)?|lng)$/i;

interface Located extends Point {
	device: DeviceView;
	altitude: number | null;
	ts: string | null;
}

/** The devices with a last latitude and longitude. */
export function located(devices: DeviceView[]): Located[] {
	const out: Located[] = [];
	for (const d of devices) {
		const lat = d.datapoints.find(p => LAT.test(p.label));
		const lon = d.datapoints.find(p => LON.test(p.label));
		if (lat?.value == null || lon?.value == null) continue;
		if (Math.abs(lat.value) > 90 || Math.abs(lon.value) > 180) continue;
		const alt = d.datapoints.find(p => /^alt(itude)?$/i.test(p.label));
		out.push({ device: d, lat: lat.value, lon: lon.value, altitude: alt?.value ?? null, ts: lat.ts });
	}
	return out;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>) {
	const el = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
	return el;
}

export const mapView: View = {
	path: "map",
	title: "Map",
	nav: "user",
	order: 25,
	icon: "◎",
	render(el, ctx) {
		let k = 1;
		let box: ViewBox | null = null;
		let fleet: Located[] = [];
		let drawnK = NaN;
		let userMoved = false;

		const land = svg("path", { class: "map-land", d: "" });
		const grid = svg("g", { class: "map-grid" });
		const plane = svg("svg", { class: "map-svg", role: "img", "aria-label": "Land outline" });
		// The graticule over the land: it orients where a zoomed view shows no coast.
		plane.append(land, grid);
		const markers = h("div", { class: "map-markers" });
		const degrees = h("div", { class: "map-degrees", "aria-hidden": "true" });
		const frame = h("div", { class: "map-frame", id: "map" }, plane, degrees, markers);
		const count = h("span", { class: "muted small" });
		const readout = h("tbody", {});
		const zoom = (f: number) => {
			if (!box) return;
			userMoved = true;
			box = zoomBox(box, f, box.x + box.w / 2, box.y + box.h / 2);
			draw();
		};
		const btn = (label: string, title: string, fn: () => void, action: string) =>
			h(
				"button",
				{ class: "btn", type: "button", title, "data-action": action, onclick: fn as EventListener },
				label
			);
		el.append(
			h(
				"div",
				{ class: "view-head" },
				h("h1", {}, "Map"),
				count,
				h("span", { class: "spacer" }),
				h(
					"div",
					{ class: "map-tools" },
					btn("+", "Zoom in", () => zoom(2), "zoom-in"),
					btn("−", "Zoom out", () => zoom(0.5), "zoom-out"),
					btn("Fit fleet", "Zoom to every device with a position", () => fit(), "fit"),
					btn("World", "Show the whole world", () => ((userMoved = true), (box = null), draw()), "world")
				)
			),
			h("div", { class: "panel map-panel" }, frame),
			h(
				"div",
				{ class: "panel table-wrap" },
				h(
					"table",
					{ class: "table map-readout" },
					h(
						"thead",
						{},
						h(
							"tr",
							{},
							h("th", {}, "Device"),
							h("th", {}, "Latitude"),
							h("th", {}, "Longitude"),
							h("th", {}, "Altitude"),
							h("th", {}, "Last fix")
						)
					),
					readout
				)
			)
		);

		const aspect = () => Math.max(0.2, frame.clientWidth / Math.max(1, frame.clientHeight));

		function fit(): void {
			userMoved = false;
			k = scaleX(fleet.length ? fleet.reduce((s, p) => s + p.lat, 0) / fleet.length : 0);
			box = fleet.length ? fitBox(fleet, aspect(), k) : null;
			draw();
		}

		function draw(): void {
			const b = (box ??= worldBox(aspect(), k));
			plane.setAttribute("viewBox", `${b.x} ${b.y} ${b.w} ${b.h}`);
			plane.dataset.k = String(k);
			if (drawnK !== k) {
				land.setAttribute("d", landPath(k));
				drawnK = k;
			}
			drawGrid(b);
			const cw = frame.clientWidth;
			const ch = frame.clientHeight;
			markers.replaceChildren(
				...fleet.map(p => {
					const [x, y] = project(p, k);
					const [px, py] = toPixels(b, cw, ch, x, y);
					const inside = px >= 0 && py >= 0 && px <= cw && py <= ch;
					return h(
						"a",
						{
							// Near the right edge the label goes to the left of the dot, so it stays readable.
							class: `map-marker ${p.device.status}${px > cw - 160 ? " flip" : ""}`,
							href: `#/devices/${p.device.id}`,
							style: `left:${px}px;top:${py}px${inside ? "" : ";display:none"}`,
							title: `${p.device.name}: ${p.lat}, ${p.lon}`,
							"data-device": p.device.id,
							"data-lat": String(p.lat),
							"data-lon": String(p.lon)
						},
						h("span", { class: "map-dot" }),
						h("span", { class: "map-label" }, p.device.name)
					);
				})
			);
		}

		function drawGrid(b: ViewBox): void {
			const nw = unproject(b.x, b.y, k);
			const se = unproject(b.x + b.w, b.y + b.h, k);
			const step = graticuleStep(Math.min(nw.lat - se.lat, se.lon - nw.lon));
			const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
			const deg = (v: number, pos: string, neg: string) =>
				`${Math.abs(v).toFixed(digits)}°${v > 0 ? pos : v < 0 ? neg : ""}`;
			const lines: SVGElement[] = [];
			const labels: HTMLElement[] = [];
			const stroke = { "vector-effect": "non-scaling-stroke" };
			const cw = frame.clientWidth;
			const ch = frame.clientHeight;
			// The lines in the plane; their degrees along the left and top edges, in pixels.
			for (let i = Math.ceil(se.lat / step); i * step <= nw.lat; i++) {
				const lat = i * step;
				lines.push(svg("line", { x1: b.x, x2: b.x + b.w, y1: -lat, y2: -lat, ...stroke }));
				const [, py] = toPixels(b, cw, ch, b.x, -lat);
				labels.push(h("span", { class: "map-deg lat", style: `top:${py}px` }, deg(lat, "N", "S")));
			}
			for (let i = Math.ceil(nw.lon / step); i * step <= se.lon; i++) {
				const lon = i * step;
				lines.push(svg("line", { x1: lon * k, x2: lon * k, y1: b.y, y2: b.y + b.h, ...stroke }));
				const [px] = toPixels(b, cw, ch, lon * k, b.y);
				labels.push(h("span", { class: "map-deg lon", style: `left:${px}px` }, deg(lon, "E", "W")));
			}
			grid.replaceChildren(...lines);
			degrees.replaceChildren(...labels);
		}

		// Wheel zooms about the pointer; a drag pans.
		frame.addEventListener(
			"wheel",
			e => {
				if (!box) return;
				e.preventDefault();
				userMoved = true;
				const r = frame.getBoundingClientRect();
				const s = Math.min(r.width / box.w, r.height / box.h);
				const px = box.x + (e.clientX - r.left - (r.width - box.w * s) / 2) / s;
				const py = box.y + (e.clientY - r.top - (r.height - box.h * s) / 2) / s;
				box = zoomBox(box, e.deltaY < 0 ? 1.25 : 0.8, px, py);
				draw();
			},
			{ passive: false }
		);
		let drag: { x: number; y: number; box: ViewBox } | null = null;
		frame.addEventListener("pointerdown", e => {
			if (!box || (e.target as Element).closest(".map-marker")) return;
			drag = { x: e.clientX, y: e.clientY, box };
			frame.setPointerCapture(e.pointerId);
		});
		frame.addEventListener("pointermove", e => {
			if (!drag) return;
			const s = Math.min(frame.clientWidth / drag.box.w, frame.clientHeight / drag.box.h);
			userMoved = true;
			box = { ...drag.box, x: drag.box.x - (e.clientX - drag.x) / s, y: drag.box.y - (e.clientY - drag.y) / s };
			draw();
		});
		frame.addEventListener("pointerup", () => (drag = null));
		const resize = new ResizeObserver(() => (userMoved ? draw() : fit()));
		resize.observe(frame);
		ctx.onCleanup(() => resize.disconnect());

		ctx.every(5_000, async () => {
			const devices = (await ctx.api.all<DeviceView>("/api/monitoring/devices")).items;
			const before = fleet.map(p => p.device.id).join();
			fleet = located(devices);
			count.textContent = fleet.length
				? `${fleet.length} of ${devices.length} devices report a position`
				: "No device reports a position yet (latitude and longitude datapoints, e.g. a GPS).";
			readout.replaceChildren(
				...fleet.map(p =>
					h(
						"tr",
						{ "data-device": p.device.id },
						h("td", {}, h("a", { href: `#/devices/${p.device.id}` }, p.device.name)),
						h("td", { class: "num", title: String(p.lat) }, fmtValue(p.lat, "deg", "latitude")),
						h("td", { class: "num", title: String(p.lon) }, fmtValue(p.lon, "deg", "longitude")),
						h("td", { class: "num" }, p.altitude == null ? "—" : `${fmtValue(p.altitude)} m`),
						h("td", { class: "muted" }, p.ts ? ago(p.ts) : "—")
					)
				)
			);
			// A new device in the fleet re-fits the view, unless the operator moved it.
			if (!userMoved && before !== fleet.map(p => p.device.id).join()) fit();
			else draw();
		});
	}
};
