/**
 * What fleetmesh adds to Moleculer's typings: the action properties its middlewares read, the
 * broker method @moleculer/channels installs, and the registry methods Moleculer has but does not
 * declare (src/registry/registry.js). With these, `auth: "amdin"` in an action is a
 * compile error instead of an action that silently counts as admin-only.
 */
import "moleculer";
import type { TSchema } from "@sinclair/typebox";
import type { AuthLevel } from "../mixins/authorization";

declare module "moleculer" {
	interface ActionSchema {
		/** Who may call the action from outside the mesh (mixins/authorization.ts); absent: "user". */
		auth?: AuthLevel;
		/** "auth": login and register, counted per client address by the gateway (AUTH_RATE_LIMIT). */
		rateLimit?: "auth";
		/**
		 * The JSON Schema of what the action answers over HTTP (a shape of services/shared/contracts/,
		 * `pageOf(...)` for a list): the OpenAPI document publishes it (services/gateway/openapi.ts).
		 */
		answer?: TSchema;
	}

	interface ServiceBroker {
		/** Publishes to a durable channel (@moleculer/channels middleware, mixins/channels.ts). */
		sendToChannel(channelName: string, payload: unknown, opts?: Record<string, unknown>): Promise<void>;
	}

	/** One node as the registry lists it (`getNodeList`; Moleculer's typings leave it `any`). */
	interface RegistryNodeInfo {
		id: string;
		available: boolean;
		local: boolean;
		hostname: string;
		lastHeartbeatTime: number;
		offlineSince?: number | null;
		ipList?: string[];
		client?: { type?: string; version?: string; langVersion?: string };
		cpu?: number | null;
		services?: { name: string }[];
	}

	interface ServiceRegistry {
		getNodeList(opts: { onlyAvailable: boolean; withServices: boolean }): RegistryNodeInfo[];
		/** Whether a service of that full name (on that node) is registered. */
		hasService(fullName: string, nodeID?: string): boolean;
		/** The endpoints of an action, local and remote; undefined when no node has it. */
		getActionEndpoints(actionName: string): EndpointList | undefined;
	}
}
