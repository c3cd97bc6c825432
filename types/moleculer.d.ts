/**
 * What fleetmesh adds to Moleculer's typings: the action properties its middlewares read, and
 * the broker method @moleculer/channels installs. With these, `auth: "amdin"` in an action is a
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
}
