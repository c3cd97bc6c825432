/**
 * The process-wide last line of defence: an unhandled promise rejection is logged and counted
 * (`fleetmesh_process_unhandled_rejections_total` in /metrics) instead of ending the node.
 *
 * Node's default ends the process on one, and a node that ends over a rejected background
 * promise (a channel send during a NATS outage, say) takes every healthy service of it down
 * too. The causes are fixed where they arise; this guard keeps a cause that slipped through
 * from becoming an outage, and makes it visible. Installed by bin/runner.ts (a real node), not
 * in tests, where an unhandled rejection must fail the test.
 */
import type { ServiceBroker } from "moleculer";

const METRIC = "fleetmesh.process.unhandled_rejections";
const brokers = new Set<ServiceBroker>();
let installed = false;
let count = 0;

export function unhandledRejectionCount(): number {
	return count;
}

export function installProcessGuard(): void {
	if (installed) return;
	installed = true;
	process.on("unhandledRejection", reason => {
		count++;
		const message = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
		const stack = reason instanceof Error ? reason.stack : undefined;
		if (brokers.size === 0) {
			console.error(`unhandled rejection (kept running, ${count} so far): ${message}`, stack ?? "");
		}
		for (const broker of brokers) {
			broker.logger.error(`unhandled rejection (kept running, ${count} so far): ${message}`, stack ?? "");
			broker.metrics?.increment?.(METRIC);
		}
	});
}

/** Called from the broker's `created` hook: its logger and metrics get the guard's reports. */
export function attachBrokerToGuard(broker: ServiceBroker): void {
	brokers.add(broker);
	const metrics = broker.metrics as ServiceBroker["metrics"] | undefined;
	if (metrics?.isEnabled?.())
		metrics.register({
			type: "counter",
			name: METRIC,
			description: "Unhandled promise rejections caught by the process guard"
		});
}

export function detachBrokerFromGuard(broker: ServiceBroker): void {
	brokers.delete(broker);
}
