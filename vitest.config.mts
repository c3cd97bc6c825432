import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		include: ["test/**/*.test.ts"],
		// Builds the dashboard once (gateways serve it, never build it).
		globalSetup: ["test/helpers/global-setup.ts"],
		// Integration tests start brokers, servers and child processes.
		testTimeout: 60_000,
		hookTimeout: 60_000,
		// Files run in parallel (each has its own namespace, database and ports); forks keep
		// native modules and process-wide singletons (PGlite) apart.
		pool: "forks",
		fileParallelism: true,
		maxWorkers: 3,
		reporters: process.env.CI ? ["default", ["json", { outputFile: "test-output/vitest.json" }]] : ["default"]
	}
});
