/** The dashboard map's geometry (services/gateway/dashboard/src/lib/geo.ts): projection, fit, the bundled outline. */
import { describe, expect, it } from "vitest";
import {
	fitBox,
	graticuleStep,
	landOutline,
	landPath,
	project,
	scaleX,
	toPixels,
	unproject,
	worldBox,
	zoomBox
} from "../../services/gateway/dashboard/src/lib/geo";

/** Even-odd ray casting over every ring: is (lon, lat) on land? */
function onLand(lon: number, lat: number): boolean {
	let inside = false;
	for (const ring of landOutline())
		for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
			const [xi, yi] = ring[i];
			const [xj, yj] = ring[j];
			if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
		}
	return inside;
}

describe("dashboard map geometry", () => {
	it("decodes the bundled 110m outlines: Munich and inland Australia on land, mid-Atlantic and Pacific not", () => {
		expect(landOutline().length).toBeGreaterThan(100);
		expect(onLand(11.5167, 48.1173)).toBe(true);
		expect(onLand(147, -32)).toBe(true);
		expect(onLand(-30, 45)).toBe(false);
		expect(onLand(-150, 0)).toBe(false);
		expect(landPath(1)).toMatch(/^M-?\d/);
	});

	it("fits every point inside the box with the element's aspect, and a lone point at the centre", () => {
		const fleet = [
			{ lat: 48.1173, lon: 11.5167 },
			{ lat: 52.520008, lon: 13.404954 }
		];
		const k = scaleX(50);
		const b = fitBox(fleet, 16 / 9, k);
		expect(b.w / b.h).toBeCloseTo(16 / 9, 9);
		for (const p of fleet) {
			const [x, y] = project(p, k);
			expect(x).toBeGreaterThan(b.x);
			expect(x).toBeLessThan(b.x + b.w);
			expect(y).toBeGreaterThan(b.y);
			expect(y).toBeLessThan(b.y + b.h);
		}
		const one = fitBox([fleet[0]], 1, k);
		expect(one.h).toBeCloseTo(8, 9); // at least 8 degrees of latitude: the land around it shows
		const [cx, cy] = toPixels(one, 400, 400, ...project(fleet[0], k));
		expect(cx).toBeCloseTo(200, 6);
		expect(cy).toBeCloseTo(200, 6);
	});

	it("maps box corners to the element's corners and back, and zooms about a fixed point", () => {
		const b = worldBox(2);
		expect(toPixels(b, 720, 360, b.x, b.y)).toEqual([0, 0]);
		expect(toPixels(b, 720, 360, b.x + b.w, b.y + b.h)).toEqual([720, 360]);
		const p = unproject(...project({ lat: -33.5, lon: 151.25 }, 0.8), 0.8);
		expect(p.lat).toBeCloseTo(-33.5, 12);
		expect(p.lon).toBeCloseTo(151.25, 12);
		const z = zoomBox(b, 4, 10, -20);
		expect(toPixels(z, 720, 360, 10, -20)).toEqual(toPixels(b, 720, 360, 10, -20));
		expect(z.w).toBe(b.w / 4);
		expect(graticuleStep(180)).toBe(30);
		expect(graticuleStep(6)).toBe(2);
		expect(graticuleStep(0.01)).toBe(0.002);
	});
});
