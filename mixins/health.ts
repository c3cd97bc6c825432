/**
 * Per-node readiness checks.
 *
 * Each part that depends on something outside the process (database, channel adapter,
 * MQTT broker, Redis…) registers a check on its broker; the gateway's `/ready` runs the
 * checks of its own node. Keyed by broker so several brokers in one process (tests) stay apart.
 */
import type { ServiceBroker } from "moleculer";
import { errorMessage } from "../services/shared/error-message";

export type HealthCheck = () => Promise<unknown>;

const checksByBroker = new WeakMap<ServiceBroker, Map<string, HealthCheck>>();

export function registerHealthCheck(broker: ServiceBroker, name: string, check: HealthCheck): void {
	let checks = checksByBroker.get(broker);
	if (!checks) checksByBroker.set(broker, (checks = new Map()));
	checks.set(name, check);
}

export function unregisterHealthCheck(broker: ServiceBroker, name: string): void {
	checksByBroker.get(broker)?.delete(name);
}

export interface ReadinessReport {
	ready: boolean;
	checks: Record<string, { ok: boolean; detail?: unknown; error?: string; ms: number }>;
}

/** Runs every check of this node with a timeout; one slow dependency cannot hang `/ready`. */
export async function runHealthChecks(broker: ServiceBroker, timeoutMs = 2000): Promise<ReadinessReport> {
	const checks = checksByBroker.get(broker) ?? new Map<string, HealthCheck>();
	const report: ReadinessReport = { ready: true, checks: {} };
	await Promise.all(
		[...checks].map(async ([name, check]) => {
			const started = Date.now();
			let timer: NodeJS.Timeout | undefined;
			try {
				const detail = await Promise.race([
					check(),
					new Promise((_, reject) => {
						timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
					})
				]);
				report.checks[name] = { ok: true, detail, ms: Date.now() - started };
			} catch (err) {
				report.ready = false;
				report.checks[name] = { ok: false, error: errorMessage(err), ms: Date.now() - started };
			} finally {
				clearTimeout(timer);
			}
		})
	);
	return report;
}

/**
 * A warm-up of this node (`warm-up:<name>`): the check fails until `done()` is called, so
 * `/ready` stays 503 while the part still opens its connections and loads what the first load
 * would otherwise wait for. A warm-up that failed is reported, not waited for: the part works
 * without it (only slower at first), and its dependencies have checks of their own.
 */
export function registerWarmUp(broker: ServiceBroker, name: string): { done(detail?: unknown): void } {
	const started = Date.now();
	let state: { detail: unknown } | null = null;
	registerHealthCheck(broker, `warm-up:${name}`, async () => {
		if (!state) throw new Error(`${name} is warming up (${Date.now() - started} ms so far)`);
		return state.detail;
	});
	return {
		done(detail?: unknown) {
			state = { detail: detail ?? { ms: Date.now() - started } };
		}
	};
}
