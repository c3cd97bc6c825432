/**
 * The dashboard as a new user meets it: a node started the way `npm start` starts one (every
 * service, the simulator's virtual devices, embedded PGlite), opened in headless Chromium
 * (Debian's chromium driven by playwright-core). Log in, see the simulated Arduino, see its live
 * value change, acknowledge an alert; screenshots at desktop and phone width go to test-output/.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { tempDir, waitFor } from "../helpers/broker";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN_EMAIL = "dash-admin@example.com";
const ADMIN_PASSWORD = "Copper-lantern-8842";
const OUT = path.join(ROOT, "test-output");

async function api(url: string, method: string, p: string, body?: unknown, token?: string) {
	const res = await fetch(url + p, {
		method,
		headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

describe("dashboard in headless Chromium against a full node", () => {
	let node: NodeProcess;
	let url: string;
	let ctx: BrowserContext;
	let page: Page;
	let token: string;
	let arduinoId: number;

	beforeAll(async () => {
		if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; this test needs it: apt-get install -y chromium`);
		const port = await freePort();
		url = `http://127.0.0.1:${port}`;
		node = startNode({
			PORT: String(port),
			DATA_DIR: tempDir("dashboard-e2e"),
			NODEID: "dashboard-e2e",
			ADMIN_EMAIL,
			ADMIN_PASSWORD,
			SIMULATE: "1",
			MQTT_PORT: "0",
			MQTTS_PORT: "0",
			AUTH_RATE_LIMIT: "1000"
		});
		await node.waitForOutput(/API Gateway listening/, 60_000);
		await waitFor(async () => (await api(url, "POST", "/api/users/auth", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).status === 200, 60_000, "login route");
		token = (await api(url, "POST", "/api/users/auth", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).body.access_token;
		// The simulated Arduino, registered by the manager and streaming through the processor.
		const arduino = await waitFor(
			async () => {
				const list = (await api(url, "GET", "/api/monitoring/devices", undefined, token)).body as any[];
				return Array.isArray(list) ? list.find(d => /arduino/i.test(d.name) && d.datapoints.some((p: any) => p.value != null)) : null;
			},
			60_000,
			"a simulated Arduino with readings"
		);
		arduinoId = arduino.id;

		fs.mkdirSync(OUT, { recursive: true });
		ctx = await chromium.launchPersistentContext(tempDir("chromium-profile"), {
			executablePath: CHROMIUM,
			headless: true,
			args: [
				"--headless",
				"--no-sandbox",
				"--disable-gpu",
				"--disable-quic",
				"--no-first-run",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync"
			],
			viewport: { width: 1366, height: 900 }
		});
		page = ctx.pages()[0] ?? (await ctx.newPage());
	}, 150_000);

	afterAll(async () => {
		await ctx?.close();
		await node?.kill("SIGTERM");
	});

	it("serves the dashboard at / and refuses a wrong password", async () => {
		const errors: string[] = [];
		page.on("pageerror", e => errors.push(e.message));
		await page.goto(url + "/");
		await page.fill("input[name=email]", ADMIN_EMAIL);
		await page.fill("input[name=password]", "not-the-password");
		await page.click("button[type=submit]");
		await waitFor(async () => /Wrong email or password/.test((await page.locator(".error").textContent()) ?? ""), 10_000, "the login error");
		expect(errors).toEqual([]);
	});

	it("logs in and shows the mesh node, its services and the simulated device with its profile", async () => {
		await page.fill("input[name=password]", ADMIN_PASSWORD);
		await page.click("button[type=submit]");
		const card = page.locator(`[data-device-id="${arduinoId}"]`);
		await card.waitFor({ timeout: 20_000 });
		expect(await card.locator(".device-name").textContent()).toMatch(/Arduino/i);
		const listed = ((await api(url, "GET", `/api/monitoring/devices?device=${arduinoId}`, undefined, token)).body as any[])[0];
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
		const devices = (await api(url, "GET", `/api/monitoring/devices?device=${arduinoId}`, undefined, token)).body as any[];
		const dp = devices[0].datapoints.find((p: any) => p.value != null);
		// A threshold every reading crosses: the alert comes with the next reading.
		const rule = await api(url, "POST", "/api/monitoring/rules", { datapointId: dp.id, direction: "above", threshold: -1e9, severity: "critical" }, token);
		expect(rule.status).toBe(200);
		const item = page.locator(".alert.open.critical").filter({ hasText: dp.label });
		await item.first().waitFor({ timeout: 20_000 });
		const alertId = Number(await item.first().getAttribute("data-alert-id"));
		await page.screenshot({ path: path.join(OUT, "dashboard-desktop.png"), fullPage: false });
		await item.first().locator("button[data-ack]").click();
		await page.locator(`[data-alert-id="${alertId}"] .acked`).waitFor({ timeout: 10_000 });
		const alerts = (await api(url, "GET", "/api/monitoring/alerts?status=open", undefined, token)).body as any[];
		const acked = alerts.find(a => a.id === alertId);
		expect(acked.acknowledgedBy).toBe(ADMIN_EMAIL);
		expect(acked.acknowledgedAt).toBeTruthy();
	});

	it("is readable at phone width", async () => {
		await page.setViewportSize({ width: 390, height: 844 });
		await page.waitForTimeout(500);
		// Nothing wider than the screen: no sideways scrolling on a phone.
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
		expect(overflow).toBeLessThanOrEqual(0);
		await page.screenshot({ path: path.join(OUT, "dashboard-phone.png"), fullPage: false });
	});

	it("signs out and back to the login form", async () => {
		await page.click("text=Sign out");
		await page.locator("input[name=password]").waitFor({ timeout: 5000 });
		expect(await page.evaluate(() => localStorage.getItem("fleetmesh.token"))).toBeNull();
	});
});
