/**
 * The Chromium the browser tests drive (playwright-core brings no browser): CHROMIUM_PATH, else
 * the distribution's (/usr/bin/chromium: `apt-get install chromium`), else the one the npm
 * package @sparticuz/chromium ships (a dev dependency, unpacked to /tmp on first use), so
 * `npm ci && npm test` runs the browser tests on a fresh machine too.
 * FLEET_TEST_CHROMIUM=npm skips the system paths (to check the fallback on a machine that has both).
 */
import fs from "node:fs";

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
