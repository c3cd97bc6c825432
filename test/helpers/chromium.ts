/**
 * The Chromium the browser tests drive (playwright-core brings no browser): CHROMIUM_PATH, else
 * the distribution's (/usr/bin/chromium: `apt-get install chromium`), else the one the npm
 * package @sparticuz/chromium ships (a dev dependency, unpacked to /tmp on first use), so
 * `npm ci && npm test` runs the browser tests on a fresh machine too.
 * FLEET_TEST_CHROMIUM=npm skips the system paths (to check the fallback on a machine that has both).
 *
 * Also the set-up the browser tests share: launching it, and a full node signed in as its admin.
 */
import fs from "node:fs";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { tempDir, waitFor } from "./broker";
import { createTestDatabase, type TestDatabase } from "./db";
import { startNode, type NodeProcess } from "./node-process";
import { freePort } from "./ports";

export interface ChromiumBinary {
	executablePath: string;
	/** Extra launch flags the binary needs. */
	args: string[];
	source: string;
}

const SYSTEM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export async function findChromium(): Promise<ChromiumBinary> {
	const useNpm = process.env.FLEET_TEST_CHROMIUM === "npm";
	const candidates = useNpm ? [] : [process.env.CHROMIUM_PATH, ...SYSTEM];
	for (const p of candidates) if (p && fs.existsSync(p)) return { executablePath: p, args: [], source: p };
	const { default: packaged } = await import("@sparticuz/chromium");
	const executablePath = await packaged.executablePath();
	// Only the flags a headless test needs: the package's full list targets AWS Lambda.
	return {
		executablePath,
		args: ["--no-zygote", "--single-process"].filter(a => packaged.args.includes(a)),
		source: "@sparticuz/chromium"
	};
}

/** The flags every browser test starts Chromium with: headless, no sandbox, nothing phoning home. */
const LAUNCH_ARGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync"
];

export interface BrowserOptions {
	/** Flags on top of LAUNCH_ARGS and the binary's own. */
	args?: string[];
	viewport?: { width: number; height: number };
	locale?: string;
	acceptDownloads?: boolean;
}

/** Headless Chromium with a fresh profile in `profileDir`, and its first page. */
export async function launchBrowser(
	profileDir: string,
	opts: BrowserOptions = {}
): Promise<{ ctx: BrowserContext; page: Page; binary: ChromiumBinary }> {
	const binary = await findChromium();
	const { args = [], ...rest } = opts;
	const ctx = await chromium.launchPersistentContext(profileDir, {
		executablePath: binary.executablePath,
		headless: true,
		args: [...LAUNCH_ARGS, ...args, ...binary.args],
		...rest
	});
	return { ctx, page: ctx.pages()[0] ?? (await ctx.newPage()), binary };
}

/** A JSON call to a node's HTTP API: status and parsed body (null when there is none). */
export async function api(url: string, method: string, p: string, body?: unknown, token?: string) {
	const res = await fetch(url + p, {
		method,
		headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

export interface DashboardNode {
	node: NodeProcess;
	url: string;
	db: TestDatabase;
	/** An access token of the first-start administrator. */
	token: string;
}

/**
 * A node started as `npm start` starts one (every service, the simulator's virtual devices) on a
 * PostgreSQL database of its own, with ADMIN_EMAIL/ADMIN_PASSWORD as its first administrator,
 * once it answers a login.
 */
export async function startDashboardNode(
	name: string,
	admin: { email: string; password: string },
	env: Record<string, string> = {}
): Promise<DashboardNode> {
	const db = await createTestDatabase(name.replace(/-/g, "_"));
	const port = await freePort();
	const url = `http://127.0.0.1:${port}`;
	const node = startNode({
		PORT: String(port),
		DATA_DIR: tempDir(name),
		DATABASE_URL: db.url,
		NODEID: name,
		ADMIN_EMAIL: admin.email,
		ADMIN_PASSWORD: admin.password,
		SIMULATE: "1",
		MQTT_PORT: "0",
		MQTTS_PORT: "0",
		AUTH_RATE_LIMIT: "1000",
		...env
	});
	try {
		await node.waitForOutput(/API Gateway listening/, 60_000);
		const credentials = { email: admin.email, password: admin.password };
		await waitFor(
			async () => (await api(url, "POST", "/api/users/auth", credentials)).status === 200,
			60_000,
			"login route"
		);
		const token = (await api(url, "POST", "/api/users/auth", credentials)).body.access_token;
		return { node, url, db, token };
	} catch (err) {
		// The caller's afterAll does not know them yet: stop the node and drop its database here.
		await node.kill("SIGTERM");
		await db.drop();
		throw err;
	}
}
