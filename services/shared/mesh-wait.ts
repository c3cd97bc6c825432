/**
 * Waiting for a service on one node. At start-up a node's services join the mesh one by one: the
 * manager may see a device (from that node's detector) before that node's processor has joined.
 * Calling earlier fails with "not found" (and Moleculer logs a warning per try); waiting a moment
 * for it is what the caller meant.
 */
import type { ServiceBroker } from "moleculer";

export function runsOn(broker: ServiceBroker, service: string, nodeID: string): boolean {
	const list = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as {
		name: string;
		nodeID: string;
	}[];
	return list.some(s => s.name === service && s.nodeID === nodeID);
}

/** Resolves true once `service` is available on `nodeID`, false after `timeoutMs`. */
export async function waitForServiceOnNode(
	broker: ServiceBroker,
	service: string,
	nodeID: string,
	timeoutMs = 15_000,
	intervalMs = 200
): Promise<boolean> {
	const until = Date.now() + timeoutMs;
	while (!runsOn(broker, service, nodeID)) {
		if (Date.now() >= until) return false;
		await new Promise(r => setTimeout(r, intervalMs));
	}
	return true;
}
