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

/**
 * Tells which nodes newly run a service. Moleculer delivers an event only to the nodes this node knows, and a node
 * learns of another's services a moment (up to a second or more) after that one started: what this node emitted
 * meanwhile went to nobody. A service that emits events another one keeps state from (the detector's
 * device.attached for the manager) calls `appeared()` on `$services.changed` and on `$node.disconnected` (a node
 * that left and returns is new again; leaving does not change the services) and catches the newcomers up.
 */
export class ServiceWatch {
	private known = new Set<string>();

	constructor(
		private readonly broker: ServiceBroker,
		private readonly service: string
	) {}

	/** Nodes running the service now that did not at the last call (all of them at the first call). */
	appeared(): string[] {
		const list = this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as {
			name: string;
			nodeID: string;
		}[];
		const now = new Set(list.filter(s => s.name === this.service).map(s => s.nodeID));
		const fresh = [...now].filter(n => !this.known.has(n));
		this.known = now;
		return fresh;
	}
}
