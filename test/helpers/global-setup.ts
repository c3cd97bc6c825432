/**
 * Runs once before the test files: builds the dashboard bundle (a no-op when it is up to date),
 * since gateways only serve it and the browser and start tests load it.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { buildDashboard } from "../../services/gateway/dashboard/build";

export default async function setup(): Promise<void> {
	await buildDashboard();
	// The compiled server `npm start` runs (a no-op when dist/ is up to date): the start test
	// then measures the start itself, not the compile of a fresh checkout.
	execFileSync(process.execPath, [path.resolve(__dirname, "../../scripts/compile.mjs")], { stdio: "inherit" });
}
