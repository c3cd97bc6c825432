/**
 * The parsed environment a broker was built with.
 *
 * moleculer.config.ts stores it in the broker options (`fleet`), so several brokers in one
 * process (tests, benchmarks) can each have their own database, ports and data directory.
 * Broker options stay local: unlike `metadata` they are never sent to other nodes.
 */
import type { ServiceBroker } from "moleculer";
import { readEnv, type FleetEnv } from "./env";

let processEnv: FleetEnv | null = null;

export function fleetEnv(broker: ServiceBroker): FleetEnv {
	const fromOptions = (broker.options as { fleet?: FleetEnv }).fleet;
	if (fromOptions) return fromOptions;
	return (processEnv ??= readEnv());
}
