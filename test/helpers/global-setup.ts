/**
 * Runs once before the test files: builds the dashboard bundle (a no-op when it is up to date),
 * since gateways only serve it and the browser and start tests load it.
 */
import { buildDashboard } from "../../services/gateway/dashboard/build";

export default async function setup(): Promise<void> {
	await buildDashboard();
}
