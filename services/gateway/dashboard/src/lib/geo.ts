/**
 * The map's geometry, without the DOM: an equirectangular projection (x = longitude × cos φ₀,
 * y = −latitude, φ₀ the latitude the view was fitted at, so shapes keep their proportions near
 * the fleet), fitting a view box to the fleet's extent, zooming about a point, graticule steps,
 * and the outline of the countries (world-atlas 110m, Natural Earth: coasts and borders, about
 * 100 KB, bundled: no tile or network fetch) as an SVG path. Plain functions, so the unit test
 * and the browser test can check a marker's place.
 */
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import type { MultiPolygon, Polygon, Position } from "geojson";
import countries110m from "world-atlas/countries-110m.json";

export interface Point {
	lat: number;
	lon: number;
}

/** The visible part of the projected plane (SVG viewBox units: x east, y south). */
export interface ViewBox {
	x: number;
	y: number;
	w: number;
	h: number;
}

/** cos φ₀ of the projection; kept away from 0 so a fleet at a pole still draws. */
export function scaleX(lat0: number): number {
	return Math.max(0.05, Math.cos((lat0 * Math.PI) / 180));
}

export function project(p: Point, k: number): [number, number] {
	return [p.lon * k, -p.lat];
}

export function unproject(x: number, y: number, k: number): Point {
	return { lat: -y, lon: x / k };
}

/** The whole world in a box of the given aspect (width / height). */
export function worldBox(aspect: number, k = 1): ViewBox {
	return withAspect({ x: -180 * k, y: -90, w: 360 * k, h: 180 }, aspect);
}

/**
 * The box that shows every point with a margin, at least `minSpan` degrees of latitude high
 * (one device alone, or a fleet on one site, still shows the land around it).
 */
export function fitBox(points: Point[], aspect: number, k: number, minSpan = 8): ViewBox {
	if (points.length === 0) return worldBox(aspect, k);
	const xs = points.map(p => project(p, k)[0]);
	const ys = points.map(p => project(p, k)[1]);
	const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
	const cx = (x0 + x1) / 2;
	const cy = (y0 + y1) / 2;
	const box = withAspect(
		{ x: cx - ((x1 - x0) * 1.3) / 2, y: cy - ((y1 - y0) * 1.3) / 2, w: (x1 - x0) * 1.3, h: (y1 - y0) * 1.3 },
		aspect
	);
	if (box.h >= minSpan) return box;
	return { x: cx - (minSpan * aspect) / 2, y: cy - minSpan / 2, w: minSpan * aspect, h: minSpan };
}

/** Grows the shorter side of a box about its centre so that w / h = aspect. */
export function withAspect(b: ViewBox, aspect: number): ViewBox {
	const cx = b.x + b.w / 2;
	const cy = b.y + b.h / 2;
	const w = Math.max(b.w, b.h * aspect);
	const h = w / aspect;
	return { x: cx - w / 2, y: cy - h / 2, w, h };
}

/** Zooms by `factor` (> 1: closer) keeping the point (px, py) of the plane where it is. */
export function zoomBox(b: ViewBox, factor: number, px: number, py: number): ViewBox {
	const w = b.w / factor;
	const h = b.h / factor;
	return { x: px - (px - b.x) / factor, y: py - (py - b.y) / factor, w, h };
}

/**
 * Where a plane point lands in an element of cw × ch pixels showing box `b` with SVG's default
 * preserveAspectRatio (xMidYMid meet): uniform scale, centred.
 */
export function toPixels(b: ViewBox, cw: number, ch: number, x: number, y: number): [number, number] {
	const s = Math.min(cw / b.w, ch / b.h);
	const ox = (cw - b.w * s) / 2;
	const oy = (ch - b.h * s) / 2;
	return [ox + (x - b.x) * s, oy + (y - b.y) * s];
}

/** A round graticule step (degrees) giving a handful of lines over `span` degrees. */
export function graticuleStep(span: number): number {
	for (const s of [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001])
		if (span / s >= 3) return s;
	return 0.0005;
}

let landRings: Position[][] | null = null;

/** Every ring of the countries' outlines, in longitude/latitude (decoded once). */
export function landOutline(): Position[][] {
	if (landRings) return landRings;
	const topo = countries110m as unknown as Topology<{ countries: GeometryCollection }>;
	const fc = feature(topo, topo.objects.countries);
	const rings: Position[][] = [];
	for (const f of fc.features) {
		const g = f.geometry as Polygon | MultiPolygon;
		const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
		for (const poly of polys) rings.push(...poly);
	}
	return (landRings = rings);
}

/** The countries' outlines as one SVG path in the plane of scale `k` (one decimal of a degree: 110m data). */
export function landPath(k: number): string {
	const parts: string[] = [];
	for (const ring of landOutline()) {
		let d = "";
		ring.forEach(([lon, lat], i) => {
			d += `${i ? "L" : "M"}${(lon * k).toFixed(3)},${(-lat).toFixed(3)}`;
		});
		parts.push(d + "Z");
	}
	return parts.join("");
}
