/**
 * The dashboard as an operator meets it: a node started the way `npm start` starts one (every
 * service, the simulator's virtual devices) on a PostgreSQL database of its own (so the test can
 * seed a week of history with an outage in it), opened in headless Chromium (driven by
 * playwright-core: Debian's chromium, or the @sparticuz/chromium package's) at 1440×900 and 390×844. Sign in, the
 * overview with live values, an
 * alert acknowledged; the device list (search, filter, group), a device page (facts, datapoints,
 * lifecycle, 7-day history with the outage drawn as a gap, zoom, hover readout, two series, CSV
 * export, rename, owner, delete); alerts (rule created and edited, acknowledged with a comment);
 * the mesh view; the map (markers where their coordinates say, offline outline); users (create,
 * role, reset) and password change; dark mode. Screenshots go to
 * test-output/.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { Client } from "pg";
import { tempDir, waitFor } from "../helpers/broker";
import { api, launchBrowser, startDashboardNode } from "../helpers/chromium";
import type { TestDatabase } from "../helpers/db";
import { ROOT, type NodeProcess } from "../helpers/node-process";

const ADMIN_EMAIL = "dash-admin@example.com";
const ADMIN_PASSWORD = "Copper-lantern-8842";
const OUT = path.join(ROOT, "test-output");

describe("dashboard in headless Chromium against a full node", () => {
	let node: NodeProcess;
	let url: string;
	let ctx: BrowserContext;
	let page: Page;
	let token: string;
	let arduinoId: number;
	let db: TestDatabase;
	let seededId: number;

	beforeAll(async () => {
		({ node, url, db, token } = await startDashboardNode("dashboard-e2e", {
			email: ADMIN_EMAIL,
			password: ADMIN_PASSWORD
		}));
		// The simulated Arduino, registered by the manager and streaming through the processor.
		const arduino = await waitFor(
			async () => {
				const list = (await api(url, "GET", "/api/monitoring/devices", undefined, token)).body?.items as
					any[] | undefined;
				return Array.isArray(list)
					? list.find(d => /arduino/i.test(d.name) && d.datapoints.some((p: any) => p.value != null))
					: null;
			},
			60_000,
			"a simulated Arduino with readings"
		);
		arduinoId = arduino.id;

		// A week of history for a device of its own: every 5 minutes, with a 12-hour outage from
		// 3 days ago to 2.5 days ago (no rows: the chart must show a hole there, not a line).
		const created = await api(url, "POST", "/api/devices", { name: "Greenhouse (seeded)", type: "sensor" }, token);
		expect(created.status).toBe(201);
		seededId = created.body.id;
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			await pg.query(
				`INSERT INTO datapoints (device_id, label, unit)
				 VALUES ($1, 'temperature', '°C'), ($1, 'humidity', '%')`,
				[seededId]
			);
			await pg.query(
				`INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
				 SELECT t, $1, dp.id, CASE dp.label
				   WHEN 'temperature' THEN 20 + 5 * sin(extract(epoch from t) / 20000)
				   ELSE 50 + 10 * cos(extract(epoch from t) / 30000) END
				 FROM generate_series(now() - interval '7 days', now() - interval '1 minute', interval '5 minutes') AS t
				 CROSS JOIN datapoints dp
				 WHERE dp.device_id = $1 AND NOT (t > now() - interval '3 days' AND t < now() - interval '60 hours')`,
				[seededId]
			);
		} finally {
			await pg.end();
		}

		fs.mkdirSync(OUT, { recursive: true });
		// Debian's chromium when installed, else the one the @sparticuz/chromium package ships.
		({ ctx, page } = await launchBrowser(tempDir("chromium-profile"), {
			args: ["--disable-quic"],
			viewport: { width: 1440, height: 900 },
			// A browser started under LANG=C reports "en-US@posix", which Intl (and uPlot) reject.
			locale: "en-US",
			acceptDownloads: true
		}));
	}, 150_000);

	afterAll(async () => {
		await ctx?.close();
		await node?.kill("SIGTERM");
		await db?.drop();
	});

	it("serves the dashboard at / and refuses a wrong password", async () => {
		const errors: string[] = [];
		page.on("pageerror", e => errors.push(e.message));
		await page.goto(url + "/");
		await page.fill("input[name=email]", ADMIN_EMAIL);
		await page.fill("input[name=password]", "not-the-password");
		await page.click("button[type=submit]");
		await waitFor(
			async () => /Wrong email or password/.test((await page.locator(".error").textContent()) ?? ""),
			10_000,
			"the login error"
		);
		expect(errors).toEqual([]);
	});

	it("logs in and shows the mesh node, its services and the simulated device with its profile", async () => {
		await page.fill("input[name=password]", ADMIN_PASSWORD);
		await page.click("button[type=submit]");
		const card = page.locator(`[data-device-id="${arduinoId}"]`);
		await card.waitFor({ timeout: 20_000 });
		expect(await card.locator(".device-name").textContent()).toMatch(/Arduino/i);
		const listed = (await api(url, "GET", `/api/monitoring/devices?device=${arduinoId}`, undefined, token)).body
			.items[0];
		expect(listed.profile).toBeTruthy();
		expect(await card.locator(".device-sub").textContent()).toContain(`profile ${listed.profile}`);
		expect(await card.locator(".badge.streaming, .badge.configured").count()).toBeGreaterThan(0);
		const node = page.locator('[data-node="dashboard-e2e"]');
		await node.waitFor({ timeout: 20_000 });
		const services = await node.locator(".chip").allTextContents();
		expect(services).toEqual(expect.arrayContaining(["gateway", "monitoring", "simulator"]));
		await page.locator(".conn.live").waitFor({ timeout: 10_000 });
	});

	it("shows the device's value change live", async () => {
		const value = page.locator(`[data-device-id="${arduinoId}"] .value.selected .v`);
		await waitFor(async () => ((await value.textContent()) ?? "—") !== "—", 20_000, "a first value");
		const first = await value.textContent();
		// The simulator's values drift every reading; a change shows the socket path end to end.
		await waitFor(async () => (await value.textContent()) !== first, 30_000, "the live value to change");
		// The chart has points.
		expect(await page.locator(`[data-device-id="${arduinoId}"] .chart canvas`).count()).toBeGreaterThan(0);
	});

	it("shows a new alert live and acknowledges it", async () => {
		const devices = (await api(url, "GET", `/api/monitoring/devices?device=${arduinoId}`, undefined, token)).body
			.items as any[];
		const dp = devices[0].datapoints.find((p: any) => p.value != null);
		// A threshold every reading crosses: the alert comes with the next reading.
		const rule = await api(
			url,
			"POST",
			"/api/monitoring/rules",
			{ datapointId: dp.id, direction: "above", threshold: -1e9, severity: "critical" },
			token
		);
		expect(rule.status).toBe(201);
		const item = page.locator(".alert.open.critical").filter({ hasText: dp.label });
		await item.first().waitFor({ timeout: 20_000 });
		const alertId = Number(await item.first().getAttribute("data-alert-id"));
		await page.screenshot({ path: path.join(OUT, "dashboard-desktop.png"), fullPage: false });
		await item.first().locator("button[data-ack]").click();
		await page.locator(`[data-alert-id="${alertId}"] .acked`).waitFor({ timeout: 10_000 });
		const alerts = (await api(url, "GET", "/api/monitoring/alerts?status=open", undefined, token)).body
			.items as any[];
		const acked = alerts.find(a => a.id === alertId);
		expect(acked.acknowledgedBy).toBe(ADMIN_EMAIL);
		expect(acked.acknowledgedAt).toBeTruthy();
	});

	it("lists devices with search, a status filter and grouping by node", async () => {
		await page.goto(url + "/#/devices");
		const rows = page.locator("#device-list .row");
		await page.locator(`#device-list [data-device-id="${arduinoId}"]`).waitFor({ timeout: 20_000 });
		await page.locator(`#device-list [data-device-id="${seededId}"]`).waitFor({ timeout: 20_000 });
		const all = await rows.count();
		expect(all).toBeGreaterThanOrEqual(5);
		await page.fill("input[name=q]", "arduino");
		await waitFor(async () => (await rows.count()) === 1, 5000, "the search to narrow the list");
		expect(await rows.first().getAttribute("data-device-id")).toBe(String(arduinoId));
		await page.fill("input[name=q]", "");
		await page.selectOption("select[name=status]", "streaming");
		await waitFor(async () => (await rows.count()) < all && (await rows.count()) > 0, 5000, "the status filter");
		expect(await page.locator(`#device-list [data-device-id="${seededId}"]`).count()).toBe(0);
		expect(await rows.locator(".badge.streaming").count()).toBe(await rows.count());
		expect(page.url()).toContain("status=streaming");
		await page.selectOption("select[name=status]", "");
		await page.selectOption("select[name=group]", "node");
		await waitFor(
			async () => (await page.locator(".group-head").allTextContents()).some(t => t.includes("dashboard-e2e")),
			5000,
			"a group per node"
		);
		await page.screenshot({ path: path.join(OUT, "devices-desktop.png") });
	});

	it("shows a device page with a 7-day history in which the outage is a gap", async () => {
		await page.goto(url + `/#/devices/${seededId}`);
		await page.locator(".device-title").waitFor({ timeout: 10_000 });
		expect(await page.locator(".device-title").textContent()).toBe("Greenhouse (seeded)");
		expect(await page.locator('[data-fact="last-seen"]').textContent()).toBeTruthy();
		expect(await page.locator(".dp-table tbody tr").count()).toBe(2);
		await page.click('[data-range="7d"]');
		const chart = page.locator(".history .chart");
		await waitFor(
			async () => /averages per/.test((await page.locator("#history-note").textContent()) ?? ""),
			15_000,
			"the 7-day history"
		);
		// 7 days in buckets of 30 minutes: ~310 points (the 12-hour outage has none), one hole.
		expect(Number(await chart.getAttribute("data-points"))).toBeGreaterThan(250);
		expect(Number(await chart.getAttribute("data-gaps"))).toBe(1);
		// A second datapoint on the same chart.
		await page.check(".dp-toggle[data-dp] input[type=checkbox]:not(:checked)");
		await waitFor(
			async () =>
				(await chart.getAttribute("data-series")) === "2" &&
				Number(await chart.getAttribute("data-gaps")) === 2,
			15_000,
			"two series"
		);
		// Hover readout: the time and both values.
		const over = chart.locator(".u-over");
		const box = (await over.boundingBox())!;
		await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
		await waitFor(
			async () =>
				/temperature.*°C.*humidity.*%/s.test((await chart.locator(".chart-readout").textContent()) ?? ""),
			5000,
			"the hover readout"
		);
		await page.screenshot({ path: path.join(OUT, "device-history-desktop.png") });
		// Zoom by selection: a finer resolution is fetched for the span.
		await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
		await page.mouse.down();
		await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2, { steps: 5 });
		await page.mouse.up();
		await page.locator("[data-zoom-reset]:visible").waitFor({ timeout: 5000 });
		await waitFor(
			async () =>
				!/averages per 30m/.test((await page.locator("#history-note").textContent()) ?? "x averages per 30m"),
			15_000,
			"finer data for the zoom"
		);
		// CSV of what is shown.
		const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-export="csv"]')]);
		const csv = fs
			.readFileSync((await download.path())!, "utf8")
			.trim()
			.split("\n");
		expect(csv[0]).toBe("time,temperature (°C),humidity (%)");
		expect(csv.length).toBeGreaterThan(5);
		expect(csv[1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,[\d.]+,[\d.]+$/);
		await page.click("[data-zoom-reset]");
	});

	it("renames a device and assigns its owner from the device page", async () => {
		const owner = await api(url, "POST", "/api/users/add", {
			email: "greenhouse-owner@example.com",
			password: "Heron-quartz-5521"
		});
		expect(owner.status).toBe(201);
		await page.reload();
		await page.locator(".device-title").waitFor({ timeout: 10_000 });
		await page.click('[data-action="rename"]');
		await page.fill(".device-header input[name=name]", "Greenhouse north");
		await page.click(".device-header button[type=submit]");
		await waitFor(
			async () => (await page.locator(".device-title").textContent()) === "Greenhouse north",
			5000,
			"the new name"
		);
		expect((await api(url, "GET", `/api/devices/${seededId}`, undefined, token)).body.name).toBe(
			"Greenhouse north"
		);
		await waitFor(async () => (await page.locator("select[name=owner] option").count()) > 1, 5000, "the user list");
		await page.selectOption("select[name=owner]", String(owner.body.id));
		await page.click(".owner-form button[type=submit]");
		await waitFor(
			async () => (await page.locator('[data-fact="owner"]').textContent()) === "greenhouse-owner@example.com",
			5000,
			"the owner shown"
		);
		expect((await api(url, "GET", `/api/devices/${seededId}`, undefined, token)).body.owner).toBe(owner.body.id);
		await waitFor(
			async () => (await page.locator(".events .event-type").allTextContents()).includes("updated"),
			5000,
			"the update in the lifecycle"
		);
	});

	it("creates and edits a threshold rule and acknowledges an alert with a comment", async () => {
		const seeded = (await api(url, "GET", `/api/monitoring/devices?device=${seededId}`, undefined, token)).body;
		const temp = seeded.items[0].datapoints.find((d: any) => d.label === "temperature");
		await page.goto(url + "/#/alerts");
		await page.click('[data-action="add-rule"]');
		await page.selectOption(".rule-form select[name=datapointId]", String(temp.id));
		await page.fill(".rule-form input[name=threshold]", "1000");
		await page.selectOption(".rule-form select[name=severity]", "info");
		await page.click(".rule-form button[type=submit]");
		const rulesOf = async () => {
			const b = (await api(url, "GET", `/api/monitoring/rules?device=${seededId}`, undefined, token)).body;
			return b.items as any[];
		};
		const created = await waitFor(
			async () => (await rulesOf()).find(r => r.threshold === 1000),
			5000,
			"the rule created"
		);
		expect(created.severity).toBe("info");
		const row = page.locator(`[data-rule-id="${created.id}"]`);
		await row.locator('[data-action="edit"]').click();
		await row.locator("input[name=threshold]").fill("900");
		await row.locator("button[type=submit]").click();
		await waitFor(
			async () => (await rulesOf()).find(r => r.id === created.id)?.threshold === 900,
			5000,
			"the rule edited"
		);
		await page
			.locator(`[data-rule-id="${created.id}"] .rule-text`)
			.filter({ hasText: "above 900" })
			.waitFor({ timeout: 5000 });

		// An alert to acknowledge: a rule on the Arduino's second datapoint that every reading crosses.
		const ard = (await api(url, "GET", `/api/monitoring/devices?device=${arduinoId}`, undefined, token)).body;
		const dp = ard.items[0].datapoints.filter((p: any) => p.value != null)[1];
		await api(
			url,
			"POST",
			"/api/monitoring/rules",
			{ datapointId: dp.id, direction: "above", threshold: -1e9, severity: "warning" },
			token
		);
		await page.selectOption("select[name=status]", "unacknowledged");
		const item = page.locator("#alert-history .alert.open.warning").filter({ hasText: dp.label }).first();
		await item.waitFor({ timeout: 20_000 });
		const alertId = Number(await item.getAttribute("data-alert-id"));
		await item.locator("input[name=comment]").fill("checked on site, sensor fine");
		await item.locator("button[data-ack]").click();
		await page.locator(`[data-alert-id="${alertId}"] .ack-comment`).waitFor({ timeout: 10_000 });
		const alerts = (await api(url, "GET", `/api/monitoring/alerts?device=${arduinoId}`, undefined, token)).body;
		const acked = alerts.items.find((a: any) => a.id === alertId);
		expect(acked.ackComment).toBe("checked on site, sensor fine");
		expect(acked.acknowledgedBy).toBe(ADMIN_EMAIL);
		await page.selectOption("select[name=status]", "all");
		await page.screenshot({ path: path.join(OUT, "alerts-desktop.png") });
	});

	it("shows each mesh node with its services, uptime, load and memory", async () => {
		await page.goto(url + "/#/mesh");
		const card = page.locator('#mesh-nodes [data-node="dashboard-e2e"]');
		await card.waitFor({ timeout: 10_000 });
		const stats = Object.fromEntries(
			await card
				.locator(".stat")
				.evaluateAll(els =>
					els.map(e => [e.querySelector(".k")!.textContent, e.querySelector(".v")!.textContent])
				)
		);
		expect(stats.Uptime).toMatch(/^\d+(\.\d)? (s|min|h|d)$/);
		expect(stats.Memory).toMatch(/% of/);
		expect(stats.Load).toMatch(/^\d+\.\d\d \d+\.\d\d \d+\.\d\d$/);
		expect(await card.locator(".badge").textContent()).toBe("connected");
		expect(await card.locator(".chip").allTextContents()).toEqual(
			expect.arrayContaining(["gateway", "monitoring", "simulator"])
		);
		await page.screenshot({ path: path.join(OUT, "mesh-desktop.png") });
	});

	it("administers users: create, make administrator, reset the password, delete", async () => {
		await page.goto(url + "/#/users");
		const rowOf = (email: string) => page.locator(".users-table tr").filter({ hasText: email });
		await rowOf(ADMIN_EMAIL).waitFor({ timeout: 10_000 });
		await page.fill(".create-user input[name=email]", "new-operator@example.com");
		const initial = await page.inputValue(".create-user input[name=password]");
		await page.check(".create-user input[name=admin]");
		await page.click(".create-user button[type=submit]");
		const row = rowOf("new-operator@example.com");
		await row.waitFor({ timeout: 10_000 });
		expect(await row.locator(".badge").textContent()).toBe("admin");
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "new-operator@example.com", password: initial })).status
		).toBe(200);
		await row.locator('[data-action="role"]').click();
		await waitFor(async () => (await row.locator(".badge").count()) === 0, 5000, "the role back to user");
		page.once("dialog", d => void d.accept());
		await row.locator('[data-action="reset"]').click();
		const secret = page.locator("[data-secret]");
		expect(await secret.textContent()).toBe(initial);
		await waitFor(
			async () => ((await secret.textContent()) ?? initial) !== initial,
			5000,
			"the new password shown"
		);
		const fresh = (await secret.textContent())!;
		expect(fresh).not.toBe(initial);
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "new-operator@example.com", password: initial })).status
		).toBe(401);
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "new-operator@example.com", password: fresh })).status
		).toBe(200);
		await page.screenshot({ path: path.join(OUT, "users-desktop.png") });
		page.once("dialog", d => void d.accept());
		await row.locator('[data-action="delete"]').click();
		await waitFor(async () => (await rowOf("new-operator@example.com").count()) === 0, 5000, "the user gone");
		expect(
			(await api(url, "POST", "/api/users/auth", { email: "new-operator@example.com", password: fresh })).status
		).toBe(401);
	});

	it("shows the API reference generated from the OpenAPI document", async () => {
		await page.goto(url + "/#/api");
		const op = page.locator('[data-op="GET /api/monitoring/alerts"]');
		await op.waitFor({ timeout: 10_000 });
		await op.locator("summary").click();
		const rows = await op.locator("tbody tr").allTextContents();
		expect(rows.join("\n")).toMatch(/status.*one of open, cleared, unacknowledged, all/);
		expect(rows.join("\n")).toMatch(/limit.*integer ≥ 1 ≤ 1000/);
		await page.fill(".view-api input[name=q]", "rules");
		await waitFor(
			async () =>
				(await page.locator(".api-op").count()) > 0 &&
				(await page.locator('[data-op="GET /api/nodes"]').count()) === 0,
			5000,
			"the filter"
		);
		await page.screenshot({ path: path.join(OUT, "api-desktop.png") });
	});

	it("draws the devices that report a position on the offline map, where their coordinates say", async () => {
		// A second positioned device far from the simulated GPS (Munich), so the fit spans both.
		const van = await api(url, "POST", "/api/devices", { name: "Survey van (seeded)", type: "gps" }, token);
		expect(van.status).toBe(201);
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			await pg.query(
				`WITH dp AS (INSERT INTO datapoints (device_id, label, unit)
				   VALUES ($1, 'latitude', 'deg'), ($1, 'longitude', 'deg') RETURNING id, label)
				 INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value)
				 SELECT now() - interval '30 seconds', $1, id,
				   CASE label WHEN 'latitude' THEN 52.5200083 ELSE 13.4049541 END FROM dp`,
				[van.body.id]
			);
		} finally {
			await pg.end();
		}
		// Nothing but the API is fetched while the map is shown: the outline is in the bundle.
		const fetched: string[] = [];
		const onRequest = (r: { url(): string }) => fetched.push(r.url());
		page.on("request", onRequest);
		for (const [width, height, size] of [
			[1440, 900, "desktop"],
			[390, 844, "phone"]
		] as const) {
			await page.setViewportSize({ width, height });
			for (const scheme of ["light", "dark"] as const) {
				await page.emulateMedia({ colorScheme: scheme });
				await page.goto(url + "/#/map");
				// The van and the simulated GPS (the NMEA profile's latitude/longitude).
				await waitFor(async () => (await page.locator(".map-marker").count()) >= 2, 30_000, "two map markers");
				await page.waitForTimeout(300);
				const placed = await page.evaluate(() => {
					const svgEl = document.querySelector(".map-svg") as SVGSVGElement;
					const [bx, by, bw, bh] = svgEl.getAttribute("viewBox")!.split(" ").map(Number);
					const k = Number(svgEl.dataset.k);
					const r = svgEl.getBoundingClientRect();
					return Array.from(document.querySelectorAll<HTMLElement>(".map-marker")).map(m => {
						const lat = Number(m.dataset.lat);
						const lon = Number(m.dataset.lon);
						// Equirectangular, SVG's xMidYMid meet: where the coordinates belong on the screen.
						const s = Math.min(r.width / bw, r.height / bh);
						const ex = r.left + (r.width - bw * s) / 2 + (lon * k - bx) * s;
						const ey = r.top + (r.height - bh * s) / 2 + (-lat - by) * s;
						const d = m.querySelector(".map-dot")!.getBoundingClientRect();
						const inFrame =
							d.left >= r.left && d.right <= r.right && d.top >= r.top && d.bottom <= r.bottom;
						return {
							title: m.title,
							lat: m.dataset.lat,
							lon: m.dataset.lon,
							dx: d.left + d.width / 2 - ex,
							dy: d.top + d.height / 2 - ey,
							inFrame
						};
					});
				});
				for (const m of placed) {
					expect(Math.abs(m.dx), `${m.title} x`).toBeLessThan(1.5);
					expect(Math.abs(m.dy), `${m.title} y`).toBeLessThan(1.5);
					// Zoomed to the fleet's extent: every marker is on the map.
					expect(m.inFrame, `${m.title} inside the map`).toBe(true);
				}
				// Full precision: the marker carries the stored value; the readout shows 6 decimals (≈ 0.1 m).
				const vanMarker = placed.find(m => m.title.startsWith("Survey van"));
				expect(vanMarker).toMatchObject({ lat: "52.5200083", lon: "13.4049541" });
				const row = page.locator(`.map-readout tr[data-device="${van.body.id}"]`);
				expect(await row.textContent()).toMatch(/52\.520008.*13\.404954/);
				const sideways = await page.evaluate(
					() => document.documentElement.scrollWidth - document.documentElement.clientWidth
				);
				expect(sideways, "the map scrolls sideways").toBeLessThanOrEqual(0);
				await page.screenshot({ path: path.join(OUT, `map-${size}-${scheme}.png`) });
			}
		}
		page.off("request", onRequest);
		const foreign = fetched.filter(u => !u.startsWith(url));
		expect(foreign, "requests outside the node").toEqual([]);
		await page.emulateMedia({ colorScheme: "light" });
		await page.setViewportSize({ width: 1440, height: 900 });
	});

	it("redraws the chart grid in dark colours when the colour scheme changes", async () => {
		await page.goto(url + `/#/devices/${seededId}`);
		const chart = page.locator(".history .chart");
		await waitFor(async () => Number(await chart.getAttribute("data-points")) > 0, 15_000, "the history");
		const light = await chart.getAttribute("data-grid");
		await page.emulateMedia({ colorScheme: "dark" });
		await waitFor(async () => (await chart.getAttribute("data-grid")) !== light, 5000, "the grid colour to change");
		await page.waitForTimeout(300);
		await page.screenshot({ path: path.join(OUT, "device-dark-desktop.png") });
		await page.emulateMedia({ colorScheme: "light" });
	});

	it("is readable at phone width", async () => {
		await page.setViewportSize({ width: 390, height: 844 });
		await page.waitForTimeout(500);
		// Nothing wider than the screen: no sideways scrolling on a phone.
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		expect(overflow).toBeLessThanOrEqual(0);
		await page.screenshot({ path: path.join(OUT, "dashboard-phone.png"), fullPage: false });
		for (const [route, shot] of [
			["#/devices", "devices-phone.png"],
			[`#/devices/${seededId}`, "device-phone.png"],
			["#/alerts", "alerts-phone.png"],
			["#/mesh", "mesh-phone.png"]
		]) {
			await page.goto(url + "/" + route);
			await page.locator(".view").waitFor({ timeout: 5000 });
			await page.waitForTimeout(800);
			const sideways = await page.evaluate(
				() => document.documentElement.scrollWidth - document.documentElement.clientWidth
			);
			expect(sideways, `${route} scrolls sideways`).toBeLessThanOrEqual(0);
			await page.screenshot({ path: path.join(OUT, shot), fullPage: false });
		}
		// A compact list: the whole fleet's rows fit in about two screens.
		await page.goto(url + "/#/devices");
		await page.locator("#device-list .row").first().waitFor({ timeout: 5000 });
		const height = await page.evaluate(() => document.documentElement.scrollHeight);
		expect(height).toBeLessThan(844 * 2);
	});

	it("deletes a device from its page", async () => {
		await page.setViewportSize({ width: 1440, height: 900 });
		await page.goto(url + `/#/devices/${seededId}`);
		await page.locator(".device-title").waitFor({ timeout: 10_000 });
		page.once("dialog", d => void d.accept());
		await page.click('[data-action="delete"]');
		await waitFor(async () => page.url().endsWith("#/devices"), 5000, "back to the list");
		expect((await api(url, "GET", `/api/devices/${seededId}`, undefined, token)).status).toBe(404);
	});

	it("signs out and back to the login form", async () => {
		await page.click("text=Sign out");
		await page.locator("input[name=password]").waitFor({ timeout: 5000 });
		expect(await page.evaluate(() => localStorage.getItem("fleetmesh.token"))).toBeNull();
	});

	it("lets a user change their own password, which ends the session", async () => {
		await page.fill("input[name=email]", ADMIN_EMAIL);
		await page.fill("input[name=password]", ADMIN_PASSWORD);
		await page.click("button[type=submit]");
		await page.locator(".topbar").waitFor({ timeout: 10_000 });
		await page.goto(url + "/#/account");
		const next = "Lantern-copper-2288";
		await page.fill("input[name=oldPassword]", ADMIN_PASSWORD);
		await page.fill("input[name=newPassword]", next);
		await page.fill("input[name=repeatPassword]", next);
		await page.click("form[aria-label='Change password'] button[type=submit]");
		await page.locator("input[name=password]").waitFor({ timeout: 10_000 });
		expect(await page.locator(".error").textContent()).toMatch(/Password changed/);
		expect(
			(await api(url, "POST", "/api/users/auth", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).status
		).toBe(401);
		expect((await api(url, "POST", "/api/users/auth", { email: ADMIN_EMAIL, password: next })).status).toBe(200);
	});
});
