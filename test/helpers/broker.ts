/**
 * Brokers for tests, built by the real moleculer.config.ts from an environment the test
 * chooses. Each test file gets its own namespace, so files share the loopback servers
 * without seeing each other.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../moleculer.config";
import { readEnv } from "../../services/shared/env";
import { errorMessage } from "../../services/shared/error-message";

export function uniqueNamespace(name: string): string {
	return `t-${name}-${crypto.randomBytes(3).toString("hex")}`;
}

export function tempDir(name: string): string {
	return fs.mkdtempSync(path.join(os.tmpdir(), `fleetmesh-${name}-`));
}

export interface TestBrokerOptions {
	namespace: string;
	nodeID?: string;
	env?: Record<string, string | undefined>;
	services?: ServiceSchema[];
	logLevel?: string;
}

/** A broker configured exactly as `npm start` would configure it from `env`. */
export function createTestBroker(opts: TestBrokerOptions): ServiceBroker {
	const env = readEnv({
		NAMESPACE: opts.namespace,
		NODEID: opts.nodeID ?? `node-${crypto.randomBytes(2).toString("hex")}`,
		LOGLEVEL: opts.logLevel ?? process.env.TEST_LOGLEVEL ?? "warn",
		PORT: "0",
		// Test gateways listen on loopback only (so /metrics is open to the test, as documented).
		HOST: "127.0.0.1",
		DATA_DIR: opts.env?.DATA_DIR ?? tempDir(opts.namespace),
		...opts.env
	});
	const broker = new ServiceBroker(buildBrokerOptions(env));
	for (const schema of opts.services ?? []) broker.createService(schema);
	return broker;
}

/**
 * Waits until `check` returns a truthy value (polling), or throws after `timeoutMs`. `what` may
 * be a function, read when the wait fails: a process's output then shows what it did meanwhile.
 */
export async function waitFor<T>(
	check: () => T | Promise<T>,
	timeoutMs = 10_000,
	what: string | (() => string) = "condition"
): Promise<NonNullable<T>> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const v = await check();
			if (v) return v as NonNullable<T>;
		} catch (err) {
			last = err;
		}
		if (Date.now() > deadline)
			throw new Error(
				`timed out after ${timeoutMs} ms waiting for ${typeof what === "function" ? what() : what}` +
					(last ? `: ${errorMessage(last)}` : "")
			);
		await new Promise(r => setTimeout(r, 50));
	}
}
