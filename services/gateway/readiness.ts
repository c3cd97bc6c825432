/**
 * What `/ready` checks beyond the dependencies (mixins/health.ts): that this node has finished
 * starting and that every API route of its own services is published. moleculer-web builds the
 * routes from the registry some time after a service started (debounced), and until then the
 * route answers 404: `/ready` stays 503 until every `rest` action of this node has its alias.
 */
import type { ServiceBroker } from "moleculer";

interface LocalService {
	fullName: string;
	schema: { actions?: Record<string, unknown> };
	settings?: { rest?: unknown };
}

interface Alias {
	action?: string;
}

/** Actions of this node's services that declare `rest` and are not yet published by the gateway. */
export function unpublishedRoutes(broker: ServiceBroker, aliases: Alias[]): string[] {
	const published = new Set(aliases.map(a => a.action).filter(Boolean));
	const missing: string[] = [];
	for (const svc of broker.services as unknown as LocalService[]) {
		for (const [name, def] of Object.entries(svc.schema.actions ?? {})) {
			const action = def as { rest?: unknown; visibility?: string } | null;
			if (!action || typeof action !== "object" || !action.rest) continue;
			if (action.visibility != null && action.visibility !== "published") continue;
			const fullName = `${svc.fullName}.${name}`;
			if (!published.has(fullName)) missing.push(fullName);
		}
	}
	return missing;
}

/** The node finished starting (every local service started) and every route of it is published. */
export function routesReady(broker: ServiceBroker, aliases: Alias[]): { ready: boolean; error?: string } {
	if (!(broker as unknown as { started?: boolean }).started)
		return { ready: false, error: "the node is still starting" };
	const missing = unpublishedRoutes(broker, aliases);
	if (missing.length)
		return {
			ready: false,
			error: `API routes not published yet: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}`
		};
	return { ready: true };
}
