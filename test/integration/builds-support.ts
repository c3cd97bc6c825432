/** Shared by the builds tests: a node with the builds services, and an HTTP client for the ASU paths. */
import type { ServiceBroker } from "moleculer";
import BuildsPrepareService from "../../services/builds-prepare/builds-prepare.service";
import BuildsWorkerService from "../../services/builds-worker/builds-worker.service";
import BuildsService from "../../services/builds/builds.service";
import GatewayService from "../../services/gateway/gateway.service";

export const ALL_BUILDS_SERVICES = [GatewayService, BuildsService, BuildsPrepareService, BuildsWorkerService];

export function gatewayUrl(broker: ServiceBroker): string {
	const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
	return `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
}

export interface AsuResponse {
	status: number;
	headers: Headers;
	text: string;
	body: any;
}

export function asuClient(base: () => string) {
	return async (
		method: string,
		path: string,
		body?: unknown,
		headers: Record<string, string> = {}
	): Promise<AsuResponse> => {
		const res = await fetch(base() + path, {
			method,
			headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
			body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
		});
		const text = await res.text();
		let parsed: unknown = null;
		try {
			parsed = JSON.parse(text);
		} catch {
			parsed = null;
		}
		return { status: res.status, headers: res.headers, text, body: parsed };
	};
}

/** A request the shipped mirror can build (a comma board name, as LuCI sends it). */
export const C7 = { version: "24.10.2", target: "ath79/generic", profile: "tplink,archer-c7-v5" };
