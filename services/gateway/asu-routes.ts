/**
 * The gateway's route for the OpenWrt ASU paths (/api/v1/…, /json/v1/…, /store/…,
 * /upstream/…), served to owut, LuCI and auc exactly as upstream answers them.
 *
 * - Public: no ASU client sends a token. The actions declare `auth: "public"` and go through
 *   the gateway's one authorization policy like every other route.
 * - Rate limited per client address (ASU_RATE_LIMIT requests a minute; 0 = off). The limit
 *   comes from the broker's environment, known only once the gateway exists, hence a check
 *   in onBeforeCall rather than moleculer-web's route option fixed at definition time.
 * - The body stays text: the request hash depends on the key order the client sent, which
 *   JSON.parse does not keep for keys that look like integers.
 * - Errors (rate limit, builds service down) answer in ASU's shape `{status, detail}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceBroker } from "moleculer";
import { fleetEnv } from "../shared/broker-env";
import { BUILDS_ACTIONS as A } from "../shared/contracts/builds";
import { toHttpError, TooManyRequestsError } from "../shared/errors";
import { createAddressLimiter, type AddressLimiter } from "../../mixins/rate-limit";

type GatewayLike = {
	broker: ServiceBroker;
	asuLimiter?: AddressLimiter | null;
	clientIp(req: IncomingMessage): string;
};

export const ASU_ALIASES: Record<string, string> = {
	"POST /api/v1/build/prepare": A.prepare,
	"POST /api/v1/build": A.build,
	"GET /api/v1/build/:hash": A.status,
	"HEAD /api/v1/build/:hash": A.status,
	"POST /api/v1/build/:hash": A.methodNotAllowed,
	"GET /api/v1/stats": A.stats,
	"GET /api/v1/stats/summary": A.statsView,
	"GET /api/v1/builds-per-day": A.statsView,
	"GET /api/v1/builds-by-version": A.statsView,
	"GET /api/v1/top-packages": A.statsView,
	"GET /api/v1/build-errors": A.statsView,
	"GET /api/v1/revision/:version/:target/:subtarget": A.revision,
	"GET /api/v1/latest": A.redirect,
	"GET /api/v1/overview": A.redirect,
	"GET /api/overview": A.redirect,
	"GET /overview": A.redirect,
	"GET /json/v1/:path*": A.json,
	"HEAD /json/v1/:path*": A.json,
	"GET /store/:path*": A.store,
	"HEAD /store/:path*": A.store,
	"GET /upstream/:path*": A.upstream,
	"HEAD /upstream/:path*": A.upstream,
	"GET //:path+": A.redirect
};

/** Paths of the ASU route (CORS: any origin may call them). */
export function isAsuPath(url: string): boolean {
	return /^\/(api\/v1\/|json\/v1\/|store\/|upstream\/|api\/overview|overview)/.test(url);
}

function sendAsuError(res: ServerResponse, err: unknown): void {
	const e = toHttpError(err);
	const code = e.code || 500;
	const retryAfter = (e.data as { retryAfter?: number } | undefined)?.retryAfter;
	if (retryAfter) res.setHeader("Retry-After", String(retryAfter));
	res.writeHead(code, { "Content-Type": "application/json; charset=utf-8" });
	res.end(JSON.stringify({ status: code, detail: e.message }));
}

export const asuRoute = {
	name: "asu",
	path: "/",
	aliases: ASU_ALIASES,
	mappingPolicy: "restrict",
	// Text, not JSON: see the key-order note above. Any content type (owut sends a blob).
	bodyParsers: { json: false, urlencoded: false, text: { type: () => true, limit: "1mb" } },
	mergeParams: false,
	authentication: true,
	authorization: true,
	logging: false,

	async onBeforeCall(
		this: GatewayLike,
		ctx: Context<unknown, Record<string, unknown>>,
		_route: unknown,
		req: IncomingMessage,
		res: ServerResponse
	) {
		const env = fleetEnv(this.broker);
		if (env.builds.rateLimit > 0) {
			// Shared by every gateway when REDIS_URL is set, per instance otherwise.
			this.asuLimiter ??= createAddressLimiter({
				name: "asu",
				perMinute: env.builds.rateLimit,
				redisUrl: env.redisUrl,
				namespace: this.broker.namespace
			});
			const wait = await this.asuLimiter.hit(this.clientIp(req));
			if (wait > 0) {
				res.setHeader("Retry-After", String(wait));
				throw new TooManyRequestsError(`Too many requests from this address; try again in ${wait} s`, wait);
			}
		}
		const proto =
			env.trustProxy && req.headers["x-forwarded-proto"] === "https"
				? "https"
				: (req.socket as { encrypted?: boolean }).encrypted
					? "https"
					: "http";
		ctx.meta.asuMethod = req.method;
		ctx.meta.asuPath = (req as { originalUrl?: string }).originalUrl ?? req.url;
		ctx.meta.asuUserAgent = req.headers["user-agent"];
		ctx.meta.asuBase = `${proto}://${req.headers.host ?? "localhost"}`;
	},

	onError(this: unknown, _req: IncomingMessage, res: ServerResponse, err: unknown) {
		sendAsuError(res, err);
	}
};
