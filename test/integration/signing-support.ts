/** Brokers with the real gateway (+ signing) on a free port, for the signing tests. */
import type { ServiceBroker, ServiceSchema } from "moleculer";
import GatewayService from "../../services/gateway/gateway.service";
import SigningService from "../../services/signing/signing.service";
import { createTestBroker, waitFor } from "../helpers/broker";

export const ADMIN_EMAIL = "root@example.com";
export const ADMIN_PASSWORD = "Admin-password-42";

export interface GatewayNode {
	broker: ServiceBroker;
	url: string;
	stop(): Promise<void>;
}

export async function startGatewayNode(opts: {
	namespace: string;
	nodeID?: string;
	env: Record<string, string | undefined>;
	signing?: boolean;
	gateway?: boolean;
	extra?: ServiceSchema[];
	/** Wait until the signing routes are published (default: when this node or the mesh has signing). */
	waitForRoutes?: boolean;
}): Promise<GatewayNode> {
	const services: ServiceSchema[] = [];
	if (opts.gateway !== false) services.push(GatewayService);
	if (opts.signing !== false) services.push(SigningService);
	services.push(...(opts.extra ?? []));
	const broker = createTestBroker({
		namespace: opts.namespace,
		nodeID: opts.nodeID,
		env: { ADMIN_EMAIL, ADMIN_PASSWORD, AUTH_RATE_LIMIT: "100000", ...opts.env },
		services
	});
	await broker.start();
	let url = "";
	if (opts.gateway !== false) {
		const gw = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
		const port = (gw.server.address() as { port: number }).port;
		url = `http://127.0.0.1:${port}`;
		// autoAliases are (re)built a moment after the services appear.
		if (opts.waitForRoutes !== false)
			await waitFor(
				async () => (await fetch(`${url}/api/certs/ca`)).status === 200,
				15_000,
				"signing routes on the gateway"
			);
	}
	return { broker, url, stop: () => broker.stop() };
}

export async function api(
	url: string,
	method: string,
	path: string,
	body?: unknown,
	token?: string | null,
	headers: Record<string, string> = {}
) {
	const res = await fetch(`${url}${path}`, {
		method,
		headers: {
			...(body !== undefined ? { "Content-Type": "application/json" } : {}),
			...(token ? { Authorization: `Bearer ${token}` } : {}),
			...headers
		},
		body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
	});
	const text = await res.text();
	let json: any = null;
	try {
		json = JSON.parse(text);
	} catch {
		json = text;
	}
	return { status: res.status, body: json, headers: res.headers };
}

export async function login(url: string, email: string, password: string): Promise<string> {
	const r = await api(url, "POST", "/api/users/auth", { email, password });
	if (r.status !== 200) throw new Error(`login ${email} failed: ${r.status} ${JSON.stringify(r.body)}`);
	return r.body.access_token;
}
