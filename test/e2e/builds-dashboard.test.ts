/**
 * The dashboard's Builds view in headless Chromium: the simulated-builder warning, a finished
 * build with its download links, the queue figures and the builds-per-day chart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import type { BrowserContext, Page } from "playwright-core";
import SigningService from "../../services/signing/signing.service";
import { createTestBroker, tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { launchBrowser } from "../helpers/chromium";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ALL_BUILDS_SERVICES, asuClient, C7, gatewayUrl } from "../integration/builds-support";

const ADMIN_EMAIL = "builds-admin@example.com";
const ADMIN_PASSWORD = "Granite-heron-5521";
let broker: ServiceBroker;
let db: TestDatabase;
let ctx: BrowserContext;
let page: Page;
let url = "";
const asu = asuClient(() => url);

beforeAll(async () => {
	db = await createTestDatabase("builds_dash");
	broker = createTestBroker({
		namespace: uniqueNamespace("builds-dash"),
		env: {
			DATABASE_URL: db.url,
			ADMIN_EMAIL,
			ADMIN_PASSWORD,
			JWT_SECRET: "builds-dashboard-test-secret-0123456789",
			ASU_BUILDER: "simulated",
			ASU_SIM_IMAGE_KIB: "8"
		},
		services: [SigningService, ...ALL_BUILDS_SERVICES]
	});
	await broker.start();
	url = gatewayUrl(broker);
	const r = await asu("POST", "/api/v1/build", { ...C7, packages: ["tmux"] });
	await waitFor(
		async () => (await asu("GET", `/api/v1/build/${r.body.request_hash}`)).status === 200,
		20_000,
		"a finished build"
	);
	({ ctx, page } = await launchBrowser(tempDir("chromium-builds")));
}, 120_000);

afterAll(async () => {
	await ctx?.close();
	await broker?.stop();
	await db?.drop();
});

describe("dashboard Builds view", () => {
	it("shows the simulated warning, the queue and the finished build with download links", async () => {
		const errors: string[] = [];
		page.on("pageerror", e => errors.push(e.message));
		await page.goto(url + "/");
		await page.fill("input[name=email]", ADMIN_EMAIL);
		await page.fill("input[name=password]", ADMIN_PASSWORD);
		await page.click("button[type=submit]");
		await page.locator('nav a[data-view="builds"]').click();
		await page
			.locator("#builds-simulated")
			.waitFor({ timeout: 20_000 })
			.catch(async err => {
				throw new Error(`${err.message}\n${(await page.locator("main").textContent())?.slice(0, 500)}`);
			});
		expect(await page.locator("#builds-simulated").textContent()).toMatch(/not firmware/);
		const row = page.locator("#builds-recent tr[data-hash]").first();
		await row.waitFor({ timeout: 10_000 });
		expect(await row.textContent()).toMatch(/done.*ath79\/generic · tplink_archer-c7-v5.*24\.10\.2/);
		const link = row.locator("a").first();
		const href = await link.getAttribute("href");
		expect(href).toMatch(/^\/store\/[0-9a-f]{64}\/openwrt-24\.10\.2-.*\.bin$/);
		expect((await fetch(url + href)).status).toBe(200);
		expect(await page.locator(".builds-chart .day").count()).toBe(30);
		expect(errors).toEqual([]);
	});
});
