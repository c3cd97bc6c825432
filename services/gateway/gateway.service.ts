/**
 * gateway: the HTTP API (moleculer-web) and Socket.IO (moleculer-io) of a node, on one port.
 *
 * Routes come from the services themselves: any action with a `rest` property is published
 * under /api (autoAliases), wherever in the mesh that service runs. The gateway imports no
 * other service. Operations endpoints: /health (alive), /ready (this node's dependencies),
 * /metrics (Prometheus text).
 */
import type { Context, RegistryNodeInfo, Service, ServiceBroker, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import ApiGateway from "moleculer-web";
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { runHealthChecks } from "../../mixins/health";
import { prometheusText } from "../../mixins/metrics";
import { fleetEnv } from "../shared/broker-env";
import { GATEWAY_ROUTING_BULKHEAD, IN_MEMORY_BULKHEAD } from "../shared/bulkheads";
import { pageOf, wholeList } from "../shared/lists";
import { NodeView } from "../shared/contracts/api";
import { PROJECT_ROOT } from "../shared/paths";
import { toHttpError } from "../shared/errors";
import { listenError } from "../shared/listen-errors";
import { asuRoute } from "./asu-routes";
import { AuthMixin } from "./auth.mixin";
import { DashboardMixin } from "./dashboard.mixin";
import { buildOpenApi, type AliasInfo } from "./openapi";
import { rejectUnknownQuery } from "./query-check";
import { LiveMixin } from "./live.mixin";
import { routesReady } from "./readiness";

// moleculer-io ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped package
const SocketIOMixin = require("moleculer-io");

const startedAt = Date.now();
const PACKAGE_VERSION = (
	JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }
).version;
const { NotFoundError } = ApiGateway.Errors;

const GatewayService: ServiceSchema = {
	name: "gateway",
	// AuthMixin last: its created() runs first and secures the Socket.IO namespaces before they exist.
	mixins: [ApiGateway, SocketIOMixin, DashboardMixin, LiveMixin, AuthMixin],

	settings: {
		// Base path of this service's own `rest` actions: /api/nodes, not /api/gateway/nodes.
		rest: "/",
		port: 3000,
		ip: "0.0.0.0",
		logRequest: "debug",
		// The route table (moleculer-web and moleculer-io) is for debugging, not every start.
		logRouteRegistration: "debug",
		logResponseData: null,
		log4XXResponses: false,
		// A request that takes longer than this is cut: the client gets an error, not a hang.
		httpServerTimeout: 60_000,

		routes: [
			{
				name: "api",
				path: "/api",
				// Every action that declares `rest` is published here, from any node of the mesh.
				autoAliases: true,
				mappingPolicy: "restrict",
				whitelist: ["**"],
				bodyParsers: {
					json: { strict: false, limit: "1mb" },
					urlencoded: { extended: true, limit: "1mb" }
				},
				mergeParams: true,
				// Access per action (`auth: "public" | "user" | "admin"`), enforced by auth.mixin.ts.
				authentication: true,
				authorization: true,
				// After authentication: an unknown query parameter is 422 (./query-check.ts).
				onBeforeCall(_ctx: Context, _route: unknown, req: IncomingMessage) {
					rejectUnknownQuery(req);
				},
				logging: true
			},
			{
				name: "operations",
				path: "/",
				mappingPolicy: "restrict",
				aliases: {
					"GET health": "gateway.health",
					"GET ready": "gateway.ready",
					"GET metrics": "gateway.metrics"
				},
				bodyParsers: { json: false },
				// /health and /ready are always open; /metrics needs a token when METRICS_AUTH=1.
				authentication: true,
				authorization: true,
				logging: false
			},
			// The OpenWrt ASU paths (builds): last, so that other paths never fall through to it.
			asuRoute
		],

		io: {
			namespaces: {
				"/": {
					events: {
						call: {
							// A socket may call only what is listed here (moleculer-io's default is everything).
							whitelist: ["gateway.nodes", "monitoring.join", "monitoring.leave"],
							mappingPolicy: "all"
						}
					}
				}
			}
		}
	},

	actions: {
		// moleculer-web publishes its route list at /api/list-aliases; keep it off the API.
		listAliases: { visibility: "protected" },

		// moleculer-web runs every HTTP request through this action: its bulkhead bounds the
		// requests one gateway holds, not the broker default meant for database-bound actions.
		rest: { bulkhead: GATEWAY_ROUTING_BULKHEAD },

		// A socket call outside the whitelist is refused with "not found": answer at once, not
		// after the retry policy has tried three more times (~1.4 s).
		call: { retryPolicy: { enabled: false } },

		health: {
			bulkhead: IN_MEMORY_BULKHEAD,
			handler(this: GatewayThis) {
				return {
					status: "ok",
					nodeID: this.broker.nodeID,
					uptime: Math.round((Date.now() - startedAt) / 1000)
				};
			}
		},

		/**
		 * 200 when every dependency of this node is reachable, else 503 with the checks. Answered,
		 * not thrown: a probe polling a node that is still starting is normal, so the 503 is not
		 * an error in the log; each change of readiness is logged once (debug while starting).
		 */
		ready: {
			async handler(this: GatewayThis, ctx: Context<unknown, { $statusCode?: number }>) {
				const report = await this.readiness();
				this.noteReadiness(report.ready, report.checks);
				if (!report.ready) {
					ctx.meta.$statusCode = 503;
					return {
						name: "MoleculerError",
						code: 503,
						type: "NOT_READY",
						message: "This node is not ready: a dependency is unreachable",
						data: report.checks
					};
				}
				return { status: "ready", nodeID: this.broker.nodeID, checks: report.checks };
			}
		},

		metrics: {
			bulkhead: IN_MEMORY_BULKHEAD,
			handler(this: GatewayThis, ctx: Context<unknown, { $responseType?: string }>) {
				const text = prometheusText(this.broker);
				if (text == null)
					throw new Errors.MoleculerError("Metrics are disabled on this node (METRICS=0)", 404, "NOT_FOUND");
				ctx.meta.$responseType = "text/plain; version=0.0.4; charset=utf-8";
				return text;
			}
		},

		/**
		 * GET /api/openapi.json — the OpenAPI 3.1 document, generated from the published routes and their params
		 * (./openapi.ts).
		 */
		openapi: {
			rest: "GET /openapi.json",
			auth: "public",
			params: { $$strict: true },
			async handler(this: GatewayThis) {
				const aliases = await this.broker.call<AliasInfo[], { withActionSchema: boolean }>(
					"gateway.listAliases",
					{ withActionSchema: true }
				);
				return buildOpenApi(aliases, {
					title: "fleetmesh API",
					version: PACKAGE_VERSION,
					description:
						"Every route the gateway publishes, from any node of the mesh. Conventions (lists, " +
						"paging, errors, times): docs/api.md."
				});
			}
		},

		/**
		 * Nodes of the mesh (the dashboard's mesh view): the services each one runs, its connection
		 * state and last heartbeat, and from Moleculer's own `$node.health` of each available node its
		 * uptime, load and memory (asked in parallel, 1.5 s at most; a node that does not answer is
		 * listed without them).
		 */
		nodes: {
			rest: "GET /nodes",
			answer: pageOf(NodeView),
			async handler(this: GatewayThis) {
				const nodes = this.broker.registry.getNodeList({ onlyAvailable: false, withServices: true });
				const health = await Promise.all(
					nodes.map(n =>
						n.available
							? this.broker
									.call("$node.health", {}, { nodeID: n.id, timeout: 1500, retries: 0 })
									.catch(() => null)
							: Promise.resolve(null)
					)
				);
				return wholeList(nodes.map((n, i) => nodeView(n, health[i] as NodeHealth | null)));
			}
		}
	},

	methods: {
		/** Logs readiness changes once: not ready while starting is debug, a later loss is a warning. */
		noteReadiness(this: GatewayThis, ready: boolean, checks: Record<string, { ok: boolean }>) {
			if (this.lastReady === ready) return;
			const wasReady = this.lastReady;
			this.lastReady = ready;
			const down = Object.entries(checks)
				.filter(([, c]) => !c.ok)
				.map(([k]) => k);
			if (ready)
				this.logger[wasReady === false && this.everReady ? "info" : "debug"](
					"ready: every dependency reachable"
				);
			else
				this.logger[this.everReady ? "warn" : "debug"](
					`not ready: ${down.join(", ") || "a dependency"} unreachable`
				);
			if (ready) this.everReady = true;
		},

		async readiness(this: GatewayThis) {
			const report = await runHealthChecks(this.broker);
			const transit = this.broker.transit as { connected?: boolean } | undefined;
			if (transit) {
				const ok = !!transit.connected;
				report.checks.transporter = ok
					? { ok, detail: this.broker.transit?.tx?.constructor?.name ?? "connected", ms: 0 }
					: { ok, error: "transporter disconnected", ms: 0 };
				if (!ok) report.ready = false;
			}
			// Ready means the node's own routes answer, not 404 while the gateway is still building them.
			const routes = routesReady(this.broker, this.aliases ?? []);
			report.checks.routes = routes.ready ? { ok: true, ms: 0 } : { ok: false, error: routes.error, ms: 0 };
			if (!routes.ready) report.ready = false;
			return report;
		},

		/** Errors go out as { name, message, code, type, data }, never with a stack. */
		sendError(this: GatewayThis, req: IncomingMessage, res: ServerResponse, err: Error) {
			// A route that does not exist *yet* (the node is starting, or its aliases are being
			// rebuilt): 503 NOT_READY, so a client retries instead of concluding it does not exist.
			if ((err as unknown) instanceof NotFoundError && !routesReady(this.broker, this.aliases ?? []).ready) {
				err = new Errors.MoleculerError("This node is starting: try again in a moment", 503, "NOT_READY");
			}
			const mapped = toHttpError(err);
			// 503 SERVER_BUSY (a full bulkhead) and 429 tell the client when to come back.
			const retryAfter = (mapped.data as { retryAfter?: unknown } | undefined)?.retryAfter;
			if (typeof retryAfter === "number" && !res.headersSent) res.setHeader("Retry-After", String(retryAfter));
			if (mapped.code >= 500 && !(err instanceof Errors.MoleculerError)) {
				this.logger.error(`${req.method} ${req.url} failed:`, err);
			}
			return (ApiGateway.methods as { sendError: (...a: unknown[]) => unknown }).sendError.call(
				this,
				req,
				res,
				mapped
			);
		}
	},

	/** `server`: moleculer-web's HTTP server, made before this runs. */
	created(this: Service & { server?: import("node:net").Server }) {
		const env = fleetEnv(this.broker);
		this.settings.port = env.port;
		this.settings.ip = env.host;
		// moleculer-web waits for "listening" only: a port in use or a bad HOST would hang the
		// start. Fail it instead, with the variable to change.
		const server = this.server;
		if (server) {
			// moleculer-web logs server errors with their stack: one line is enough (a failed
			// listen becomes the start-up error itself).
			server.removeAllListeners("error");
			server.on("error", err => server.listening && this.logger.error(`HTTP server: ${err.message}`));
			const listen = server.listen.bind(server) as (port: number, host: string, cb: () => void) => unknown;
			(server as unknown as { listen: unknown }).listen = (
				port: number,
				host: string,
				cb: (err?: Error) => void
			) => {
				const onError = (err: Error) => cb(listenError(err, "PORT", port, host, "HOST"));
				server.once("error", onError);
				return listen(port, host, () => {
					server.off("error", onError);
					cb();
				});
			};
		}
	}
};

type RegistryNode = RegistryNodeInfo;

interface NodeHealth {
	cpu?: { load1?: number; load5?: number; load15?: number; cores?: number; utilization?: number };
	mem?: { free?: number; total?: number; percent?: number };
	process?: { uptime?: number; memory?: { rss?: number; heapUsed?: number } };
	os?: { uptime?: number; hostname?: string; type?: string; release?: string };
	client?: { type?: string; version?: string; langVersion?: string };
}

/** One node as GET /api/nodes answers it. */
function nodeView(n: RegistryNode, health: NodeHealth | null) {
	return {
		id: n.id,
		available: n.available,
		local: n.local,
		hostname: n.hostname ?? health?.os?.hostname ?? null,
		lastHeartbeat: n.lastHeartbeatTime ? new Date(n.lastHeartbeatTime).toISOString() : null,
		offlineSince: n.offlineSince ? new Date(n.offlineSince).toISOString() : null,
		ipList: n.ipList ?? [],
		client: n.client ?? health?.client ?? null,
		cpu: health?.cpu?.utilization ?? n.cpu ?? null,
		load: health?.cpu ? [health.cpu.load1 ?? 0, health.cpu.load5 ?? 0, health.cpu.load15 ?? 0] : null,
		cores: health?.cpu?.cores ?? null,
		memory: health?.mem?.total ? { total: health.mem.total, free: health.mem.free ?? 0 } : null,
		processMemory: health?.process?.memory?.rss ?? null,
		uptime: health?.process?.uptime != null ? Math.round(health.process.uptime) : null,
		services: (n.services ?? [])
			.map((s: { name: string }) => s.name)
			.filter((s: string) => !s.startsWith("$"))
			.sort()
	};
}

type GatewayThis = {
	lastReady?: boolean;
	everReady?: boolean;
	noteReadiness(ready: boolean, checks: Record<string, { ok: boolean }>): void;
	aliases?: { action?: string }[];
	broker: ServiceBroker;
	logger: ServiceBroker["logger"];
	settings: Record<string, unknown>;
	readiness(): ReturnType<typeof runHealthChecks>;
};

export default GatewayService;
