/**
 * What fleetmesh adds to Moleculer's typings: the broker method @moleculer/channels installs.
 */
import "moleculer";

declare module "moleculer" {
	interface ServiceBroker {
		/** Publishes to a durable channel (@moleculer/channels middleware, mixins/channels.ts). */
		sendToChannel(channelName: string, payload: unknown, opts?: Record<string, unknown>): Promise<void>;
	}
}
