/**
 * The Automation view in headless Chromium against a node started as `npm start` starts one
 * (every service, the simulator's virtual devices, its own PostgreSQL database): a rule with its
 * state, a schedule with its next runs from the preview route, the history with a run's trace,
 * and a command sent from the form to the simulated Modbus sensor.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { tempDir, waitFor } from "../helpers/broker";
import { api, launchBrowser, startDashboardNode } from "../helpers/chromium";
import type { TestDatabase } from "../helpers/db";
import type { NodeProcess } from "../helpers/node-process";

const ADMIN_EMAIL = "auto-admin@example.com";
const ADMIN_PASSWORD = "Copper-lantern-8842";

describe("the Automation view", () => {
	let node: NodeProcess;
	let url: string;
	let db: TestDatabase;
	let ctx: BrowserContext;
	let page: Page;
	let token: string;
	let modbus: { id: number; name: string; datapoints: Array<{ label: string }> };
	let ruleId: number;
	let scheduleId: number;

	beforeAll(async () => {
		({ node, url, db, token } = await startDashboardNode(
			"automation-dash",
			{ email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
			{ AUTOMATION_TICK_MS: "200" }
		));
		modbus = await waitFor(
			async () => {
				const list = (await api(url, "GET", "/api/monitoring/devices", undefined, token)).body?.items as
					any[] | undefined;
				return Array.isArray(list) ? list.find(d => /modbus/i.test(d.name) && d.status === "streaming") : null;
			},
			60_000,
			"the simulated Modbus sensor streaming"
		);
		await waitFor(
			async () => (await api(url, "GET", "/api/automation/rules", undefined, token)).status === 200,
			30_000,
			"automation routes"
		);
		// Always true on the sensor's humidity (45.5 %): fires at its first reading.
		const rule = await api(
			url,
			"POST",
			"/api/automation/rules",
			{
				name: "Humidity seen",
				trigger: { type: "reading", deviceId: modbus.id, datapoint: "humidity", above: 10 },
				actions: [{ type: "command", deviceId: modbus.id, action: "write", params: { register: 61, value: 4 } }]
			},
			token
		);
		expect(rule.status).toBe(201);
		ruleId = rule.body.id;
		scheduleId = (
			await api(
				url,
				"POST",
				"/api/automation/schedules",
				{
					name: "Nightly in Berlin",
					cron: "30 2 * * *",
					timezone: "Europe/Berlin",
					actions: [{ type: "command", deviceId: modbus.id, action: "close" }]
				},
				token
			)
		).body.id;
		// A browser language Intl refuses, as Chromium reports under LANG=C.UTF-8: the dashboard
		// stayed at "Loading…" in one (uPlot's NumberFormat threw; lib/locale.ts).
		({ ctx, page } = await launchBrowser(tempDir("chromium-automation"), {
			viewport: { width: 1440, height: 900 },
			locale: "en-US@posix"
		}));
		await page.goto(url + "/");
		await page.evaluate(t => localStorage.setItem("fleetmesh.token", t), token);
	}, 150_000);

	afterAll(async () => {
		await ctx?.close();
		await node?.kill("SIGTERM");
		await db?.drop();
	});

	it("shows rules with their state, schedules with their next runs and the history with a trace", async () => {
		const errors: string[] = [];
		page.on("pageerror", e => errors.push(e.message));
		await page.goto(url + "/#/automation");
		await page.reload(); // signed in by the stored token
		const rule = page.locator(`#automation-rules tr[data-rule="${ruleId}"]`);
		await rule.waitFor({ timeout: 20_000 }).catch(async err => {
			await page.screenshot({ path: "test-output/automation-view-failed.png" });
			throw err;
		});
		expect(await rule.textContent()).toContain("Humidity seen");
		await waitFor(
			async () => /fired/.test((await rule.textContent()) ?? ""),
			20_000,
			"the rule's state shown as fired"
		);
		const schedule = page.locator(`#automation-schedules tr[data-schedule="${scheduleId}"]`);
		await waitFor(
			async () => ((await schedule.locator("td").nth(2).innerHTML()).match(/<br>/g) ?? []).length === 2,
			10_000,
			"three next runs"
		);
		expect(await schedule.textContent()).toContain("30 2 * * * (Europe/Berlin)");
		const run = page.locator("#automation-history li[data-run]").first();
		await run.waitFor({ timeout: 10_000 });
		// Steps are appended while the run goes on and the view polls: read the trace until the
		// command step is there (reopening the run if a refresh closed it).
		const trace = await waitFor(
			async () => {
				const first = page.locator("#automation-history li[data-run]").first();
				if (
					!(await first.evaluate(
						el => (el.querySelector("details") as HTMLDetailsElement | null)?.open ?? false
					))
				)
					await first.locator("summary").click();
				const text = (await first.locator("ol.trace").textContent()) ?? "";
				// The command step is shown while the run is still "running": wait for its end too.
				const summary = (await first.locator("summary").textContent()) ?? "";
				return text.includes("actions[0] command") && !/running/.test(summary) ? text : null;
			},
			15_000,
			"the run's trace with its command step, the run ended"
		);
		expect(trace).toContain("trigger");
		expect(trace).toContain("actions[0] command");
		expect(await run.locator("summary").textContent()).toMatch(/succeeded.*rule #/);
		expect(errors).toEqual([]);
		fs.mkdirSync("test-output", { recursive: true });
		await page.screenshot({ path: "test-output/automation-view.png", fullPage: true });
	});

	it("sends a command from the form and shows its outcome", async () => {
		await page.selectOption("#automation-command select[name=device]", String(modbus.id));
		await page.fill("#automation-command input[name=register]", "62");
		await page.fill("#automation-command input[name=value]", "9");
		await page.click("#automation-command button[type=submit]");
		await waitFor(
			async () => /succeeded/.test((await page.locator("#automation-command-result").textContent()) ?? ""),
			15_000,
			"the command's outcome"
		);
		const state = await api(url, "GET", `/api/automation/devices/${modbus.id}/state`, undefined, token);
		expect(state.body.desired).toMatchObject({ "register:61": 4, "register:62": 9 });
		const sim = (await api(url, "GET", "/api/simulator/devices", undefined, token)).body as any[];
		expect(sim.find(d => d.kind === "modbus-sensor")?.registers).toMatchObject({ "61": 4, "62": 9 });
	});
});
