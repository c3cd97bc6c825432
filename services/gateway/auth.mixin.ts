/**
 * The gateway's front door: who may call what over HTTP and Socket.IO.
 *
 * - Every routed action declares `auth: "public" | "user" | "admin"` (default "user"). The route
 *   options `authentication: true, authorization: true` make moleculer-web call `authenticate`
 *   and `authorize` below with `req.$action`, the definition of the action being called (local
 *   or on another node: custom properties travel with the service info).
 * - Tokens are EdDSA JWTs from the signing service, checked here without a network hop by the
 *   one verifier (services/shared/tokens.ts) with signing's public keys (its JWKS, fetched once
 *   and again on an unknown `kid` or a key rotation). Verified tokens are cached, revoked token
 *   ids arrive by the broadcast event (plus a full re-read at start and every 30 s).
 * - Live roles: the caller's role, existence and session version come from signing's user
 *   state, cached per user and replaced by the `signing.user.changed` broadcast: a deleted user
 *   is 401 and a demoted admin 403 on every gateway within milliseconds, and no request costs a
 *   database query.
 * - Socket.IO: the handshake `auth.token` is checked by `socketAuthorize` for every namespace;
 *   a socket's calls are checked again (revoked/expired, admin-only actions); a revoked token's
 *   sockets are disconnected.
 * - Login/register rate limit per client address, CORS from CORS_ORIGINS, security headers on
 *   every response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import crypto from "node:crypto";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import type { Context, Service } from "moleculer";
import { authLevelOf } from "../../mixins/authorization";
import { createAddressLimiter, type AddressLimiter } from "../../mixins/rate-limit";
import { fleetEnv } from "../shared/broker-env";
import {
	KEYS_CHANGED_EVENT,
	SIGNING_ACTIONS,
	TOKEN_REVOKED_EVENT,
	USER_CHANGED_EVENT,
	type AuthUser,
	type TokenClaims,
	type UserState
} from "../shared/contracts/tokens";
import type { FleetEnv } from "../shared/env";
import { Errors } from "moleculer";
import { ForbiddenError, TooManyRequestsError, UnauthorizedError } from "../shared/errors";
import { keysFromJwks, parseBearer, verifyAccessToken } from "../shared/tokens";
import { isAsuPath } from "./asu-routes";
import { errorMessage } from "../shared/error-message";
import { defineMixin } from "../shared/define-service";

const RESYNC_INTERVAL_MS = 30_000;
const TOKEN_CACHE_MAX = 10_000;
/**
 * A user's cached state is asked again after this long (events keep it current meanwhile; this bounds a missed one).
 */
const USER_STATE_TTL_MS = 60_000;
/**
 * At most this often is the JWKS fetched again for a token with an unknown `kid` (forged tokens cannot make it more).
 */
const JWKS_REFETCH_MS = 5_000;

export { authLevelOf, parseBearer };
export type { AuthUser };

// ---- plain functions (unit-tested) ------------------------------------------------------

export const CONTENT_SECURITY_POLICY = [
	"default-src 'self'",
	"script-src 'self'",
	"style-src 'self' 'unsafe-inline'",
	"img-src 'self' data: blob:",
	"font-src 'self' data:",
	"connect-src 'self' ws: wss:",
	"object-src 'none'",
	"base-uri 'self'",
	"form-action 'self'",
	"frame-ancestors 'none'"
].join("; ");

/** Headers every response carries. HSTS only when the client reached us over TLS. */
export function securityHeaders(opts: { secure: boolean; api: boolean }): Record<string, string> {
	const h: Record<string, string> = {
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer",
		"Content-Security-Policy": CONTENT_SECURITY_POLICY,
		"Cross-Origin-Opener-Policy": "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()"
	};
	if (opts.secure) h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains";
	// API answers carry tokens, private keys and user data: never kept by a cache.
	if (opts.api) h["Cache-Control"] = "no-store";
	return h;
}

// The four combinations, built once: this runs on every request.
const HEADER_SETS = new Map<string, Array<[string, string]>>();
function headerSet(secure: boolean, api: boolean): Array<[string, string]> {
	const key = `${secure}|${api}`;
	let set = HEADER_SETS.get(key);
	if (!set) HEADER_SETS.set(key, (set = Object.entries(securityHeaders({ secure, api }))));
	return set;
}

/** CORS: which origin (if any) a response may name. null: no CORS headers (same origin only). */
export function allowedOrigin(origin: string | undefined, allowed: string[] | null): string | null {
	if (!origin || !allowed || allowed.length === 0) return null;
	if (allowed.includes("*")) return "*";
	return allowed.includes(origin) ? origin : null;
}

// ---- the mixin --------------------------------------------------------------------------

interface AuthState {
	env: FleetEnv;
	authRevoked: Map<string, number>;
	authTokenCache: Map<string, TokenClaims>;
	authKeys: Promise<JWTVerifyGetKey> | null;
	/** When the JWKS was last fetched (ms). */
	authKeysAt: number;
	/** User id → its live state and when it was read. */
	authUsers: Map<number, { state: UserState; at: number }>;
	authUserLoads: Map<number, Promise<UserState>>;
	authSynced: boolean;
	authSyncing: Promise<void> | null;
	authLimiter: AddressLimiter;
	authTimer: NodeJS.Timeout | null;
	authTimeouts: NodeJS.Timeout[];
	authNodeTimer: NodeJS.Timeout | null;
	io?: { _nsps?: Map<string, { sockets: Map<string, AuthSocket> }> };
	server?: import("node:http").Server;
	/** The ASU routes' limiter (asu-routes.ts): made there on first use, closed here with the service. */
	asuLimiter?: AddressLimiter | null;
}

/** The parts of a Socket.IO socket, as moleculer-io hands it over, that this mixin uses. */
interface AuthSocket {
	handshake?: { auth?: { token?: unknown }; headers?: { authorization?: string }; address?: string };
	client?: { user?: AuthUser };
	data?: { user?: AuthUser; claims?: SocketClaims; [key: string]: unknown };
	on?(event: "disconnect", listener: () => void): void;
	disconnect(close?: boolean): void;
}

/** moleculer-io's hook before a socket's `call` runs an action. */
type IoCallHook = (
	this: AuthThis,
	ctx: Context,
	socket: AuthSocket,
	action: string,
	params: unknown,
	opts: { meta?: AuthMeta }
) => unknown;

/** A namespace of moleculer-io's settings, as far as this mixin changes it. */
interface IoNamespaceSettings {
	authorization?: boolean;
	events?: {
		call?: {
			onBeforeCall?: IoCallHook;
		};
	};
}

interface AuthMethods {
	clientIp(req: IncomingMessage): string;
	verifyKeys(): Promise<JWTVerifyGetKey>;
	liveState(id: number): Promise<UserState>;
	liveUser(claims: { id: number; email: string; jti: string; exp: number; ver: number }): Promise<AuthUser>;
	dropSocketsOfUser(id: number): void;
	syncRevocations(): Promise<void>;
	ensureRevocationsSynced(): Promise<void>;
	userFromToken(token: string): Promise<AuthUser>;
	isRevoked(jti: string): boolean;
	dropSocketsOf(jti: string): void;
	handleSecurity(req: IncomingMessage, res: ServerResponse): boolean;
}

type AuthThis = Service & AuthState & AuthMethods;
type Req = IncomingMessage & {
	$action?: { name?: string; auth?: unknown; rateLimit?: unknown };
	$metricsToken?: boolean;
};
type AuthMeta = { user?: AuthUser | null; clientIp?: string };
type SocketClaims = Pick<TokenClaims, "id" | "email" | "jti" | "exp" | "ver">;

/** 503 with its own type, so the message (which part is missing) reaches the client as written. */
function authUnavailable(err: unknown): Error {
	return new Errors.MoleculerError(
		"Tokens cannot be checked right now: the signing service is not reachable",
		503,
		"AUTH_UNAVAILABLE",
		{
			reason: errorMessage(err)
		}
	);
}

function unauthorized(res: ServerResponse | null, message: string, type: string): never {
	// RFC 6750: tell the client which scheme to use and why it failed.
	res?.setHeader(
		"WWW-Authenticate",
		type === "NO_TOKEN" ? 'Bearer realm="fleetmesh"' : `Bearer realm="fleetmesh", error="invalid_token"`
	);
	throw new UnauthorizedError(message, type);
}

/**
 * A Socket.IO `call` hook that checks every call as a route is checked: a token that expired or
 * was revoked since the connection disconnects the socket; the user's role is read as of now
 * (an admin demoted meanwhile is refused admin actions); then the namespace's own hook runs.
 */
function checkedSocketCall(theirs: IoCallHook | undefined) {
	return async function (
		this: AuthThis,
		ctx: Context,
		socket: AuthSocket,
		action: string,
		params: unknown,
		opts: { meta?: AuthMeta }
	) {
		const user: AuthUser | undefined = socket.client?.user;
		if (!user) throw new UnauthorizedError();
		if (user.exp * 1000 <= Date.now() || this.isRevoked(user.jti)) {
			setImmediate(() => socket.disconnect(true));
			throw new UnauthorizedError(
				"Token has expired or was revoked; reconnect with a new token",
				"TOKEN_REVOKED"
			);
		}
		// The role and existence as of now, not as of the connection.
		const claims = socket.data?.claims;
		const live = claims
			? await this.liveUser(claims).catch((err: Error) => {
					setImmediate(() => socket.disconnect(true));
					throw err;
				})
			: user;
		const endpoint = this.broker.findNextActionEndpoint(action);
		if (
			!(endpoint instanceof Error) &&
			authLevelOf(endpoint?.action, this.env.metricsAuth) === "admin" &&
			!live.is_admin
		) {
			throw new ForbiddenError("Administrators only");
		}
		if (opts.meta) {
			opts.meta.user = live;
			opts.meta.clientIp = socket.handshake?.address;
		}
		if (theirs) await theirs.call(this, ctx, socket, action, params, opts);
	};
}

export const AuthMixin = defineMixin<AuthThis>({
	events: {
		/** A node (re)joined: revocations made while we could not hear them are read again. */
		"$node.connected"(this: AuthThis) {
			// One pending re-read covers every node that joins meanwhile.
			if (this.authNodeTimer) return;
			this.authNodeTimer = setTimeout(() => {
				this.authNodeTimer = null;
				void this.syncRevocations().catch(() => undefined);
				// User changes broadcast while the link was down: ask again before trusting the cache.
				for (const entry of this.authUsers.values()) entry.at = 0;
			}, 2000);
		},
		/** A user's role, sessions or existence changed: admit or refuse its tokens by the new state at once. */
		[USER_CHANGED_EVENT]: {
			params: { id: "number", is_admin: "boolean", token_version: "number", deleted: "boolean" },
			handler(this: AuthThis, ctx: Context<UserState>) {
				const state = ctx.params;
				const before = this.authUsers.get(state.id)?.state;
				this.authUsers.set(state.id, {
					state: {
						id: state.id,
						is_admin: state.is_admin,
						token_version: state.token_version,
						deleted: state.deleted
					},
					at: Date.now()
				});
				if (state.deleted || (before && before.token_version !== state.token_version))
					this.dropSocketsOfUser(state.id);
			}
		},
		/** signing rotated its key: read the JWKS again before the next unknown token. */
		[KEYS_CHANGED_EVENT](this: AuthThis) {
			this.authKeys = null;
		},
		[TOKEN_REVOKED_EVENT]: {
			params: { jti: { type: "string", max: 64 }, exp: { type: "number" } },
			handler(this: AuthThis, ctx: Context<{ jti: string; exp: number }>) {
				this.authRevoked.set(ctx.params.jti, ctx.params.exp);
				this.dropSocketsOf(ctx.params.jti);
			}
		}
	},

	methods: {
		clientIp(this: AuthThis, req: IncomingMessage): string {
			if (this.env.trustProxy) {
				// One trusted proxy in front: the entry it appended (the last) is the client; earlier
				// entries come from the client itself and could be anything.
				const xff = req.headers["x-forwarded-for"];
				const last = (Array.isArray(xff) ? xff.join(",") : xff)?.split(",").pop()?.trim();
				if (last) return last;
			}
			return req.socket.remoteAddress ?? "unknown";
		},

		/** signing's public keys (never a secret): fetched over the mesh, kept until a rotation or an unknown kid. */
		verifyKeys(this: AuthThis): Promise<JWTVerifyGetKey> {
			if (!this.authKeys) {
				this.authKeysAt = Date.now();
				this.authKeys = this.broker
					.call<JSONWebKeySet, Record<string, never>>(SIGNING_ACTIONS.jwks, {}, { timeout: 3000, retries: 1 })
					.then(
						jwks => keysFromJwks(jwks),
						err => {
							this.authKeys = null;
							throw authUnavailable(err);
						}
					);
			}
			return this.authKeys;
		},

		/** The user's current state: cached, replaced by events, asked again after USER_STATE_TTL_MS. */
		async liveState(this: AuthThis, id: number): Promise<UserState> {
			const cached = this.authUsers.get(id);
			if (cached && Date.now() - cached.at < USER_STATE_TTL_MS) return cached.state;
			let load = this.authUserLoads.get(id);
			if (!load) {
				const asked = Date.now();
				load = this.broker
					.call<UserState, { id: number }>(SIGNING_ACTIONS.userState, { id }, { timeout: 3000, retries: 1 })
					.then(state => {
						// An event that arrived while we asked is newer than this answer: it wins.
						const now = this.authUsers.get(id);
						if (now && now.at > asked) return now.state;
						this.authUsers.set(id, { state, at: Date.now() });
						return state;
					})
					.finally(() => this.authUserLoads.delete(id));
				this.authUserLoads.set(id, load);
			}
			try {
				return await load;
			} catch (err) {
				// signing unreachable: a state it told us before still decides (events would have changed it).
				if (cached) return cached.state;
				throw authUnavailable(err);
			}
		},

		/** Verified claims + the user's state now → the caller, or 401 (deleted user, ended session). */
		async liveUser(this: AuthThis, claims: SocketClaims): Promise<AuthUser> {
			const state = await this.liveState(claims.id);
			if (state.deleted) unauthorized(null, "The user of this token no longer exists", "USER_DELETED");
			if (state.token_version !== claims.ver)
				unauthorized(null, "This session ended (password changed or reset); log in again", "TOKEN_REVOKED");
			return { id: claims.id, email: claims.email, is_admin: state.is_admin, jti: claims.jti, exp: claims.exp };
		},

		async syncRevocations(this: AuthThis) {
			// While signing is still joining (start-up), fail without calling: a call would only log "not registered".
			if (!this.broker.registry.hasService("signing"))
				throw new Errors.ServiceNotFoundError({ action: "signing.revokedTokens", nodeID: this.broker.nodeID });
			const r = await this.broker.call<{ tokens: Array<{ jti: string; exp: number }> }, Record<string, never>>(
				"signing.revokedTokens",
				{},
				{ timeout: 3000, retries: 1 }
			);
			// Merge, never replace: an event may have arrived while the list was being read.
			for (const { jti, exp } of r.tokens) this.authRevoked.set(jti, exp);
			const now = Date.now() / 1000;
			for (const [jti, exp] of this.authRevoked) if (exp <= now) this.authRevoked.delete(jti);
			this.authSynced = true;
		},

		async ensureRevocationsSynced(this: AuthThis) {
			if (this.authSynced) return;
			this.authSyncing ??= this.syncRevocations().finally(() => (this.authSyncing = null));
			try {
				await this.authSyncing;
			} catch (err) {
				// Fail closed: without the revocation list a logged-out token could pass.
				throw authUnavailable(err);
			}
		},

		isRevoked(this: AuthThis, jti: string): boolean {
			return this.authRevoked.has(jti);
		},

		async userFromToken(this: AuthThis, token: string): Promise<AuthUser> {
			await this.ensureRevocationsSynced();
			let claims = this.authTokenCache.get(token);
			if (!claims) {
				let verdict = await verifyAccessToken(await this.verifyKeys(), token);
				// A key we have not seen (signing rotated, or restarted with a new DATA_DIR): read the JWKS again,
				// rate-limited.
				if (
					!verdict.ok &&
					(verdict.reason === "unknown-key" || verdict.message === "Token signature is invalid") &&
					Date.now() - this.authKeysAt > JWKS_REFETCH_MS
				) {
					this.authKeys = null;
					verdict = await verifyAccessToken(await this.verifyKeys(), token);
				}
				if (!verdict.ok) unauthorized(null, verdict.message, verdict.type);
				claims = verdict.claims;
				if (this.authTokenCache.size >= TOKEN_CACHE_MAX) this.authTokenCache.clear();
				this.authTokenCache.set(token, claims);
			}
			if (claims.exp * 1000 <= Date.now()) {
				this.authTokenCache.delete(token);
				unauthorized(null, "Token has expired; log in again", "TOKEN_EXPIRED");
			}
			if (this.isRevoked(claims.jti))
				unauthorized(null, "Token has been revoked (logged out); log in again", "TOKEN_REVOKED");
			return this.liveUser(claims);
		},

		/** moleculer-web: who is calling. Throws 401/429/503; returns null for public actions. */
		async authenticate(
			this: AuthThis,
			ctx: Context<unknown, AuthMeta>,
			_route: unknown,
			req: Req,
			res: ServerResponse
		) {
			const ip = this.clientIp(req);
			ctx.meta.clientIp = ip;
			const action = req.$action;
			if (action?.rateLimit === "auth") {
				const wait = await this.authLimiter.hit(`${action.name}|${ip}`);
				if (wait > 0) {
					res.setHeader("Retry-After", String(wait));
					throw new TooManyRequestsError(`Too many attempts from this address; try again in ${wait} s`, wait);
				}
			}
			const level = authLevelOf(action, this.env.metricsAuth);
			if (level === "public") return null;
			const bearer = parseBearer(req.headers.authorization);
			if ("error" in bearer) unauthorized(res, bearer.error, bearer.type);
			if (action?.name === "gateway.metrics" && this.env.metricsToken) {
				const a = Buffer.from(bearer.token);
				const b = Buffer.from(this.env.metricsToken);
				if (a.length === b.length && crypto.timingSafeEqual(a, b)) {
					req.$metricsToken = true;
					return null;
				}
			}
			try {
				return await this.userFromToken(bearer.token);
			} catch (err) {
				if (err instanceof UnauthorizedError)
					res.setHeader("WWW-Authenticate", `Bearer realm="fleetmesh", error="invalid_token"`);
				throw err;
			}
		},

		/** moleculer-web: may this caller run this action. */
		authorize(this: AuthThis, ctx: Context<unknown, AuthMeta>, _route: unknown, req: Req) {
			const level = authLevelOf(req.$action, this.env.metricsAuth);
			if (level === "public" || req.$metricsToken) return;
			if (!ctx.meta.user) throw new UnauthorizedError();
			if (level === "admin" && ctx.meta.user.is_admin !== true) throw new ForbiddenError("Administrators only");
		},

		/** moleculer-io: runs for every connection of every namespace; a throw refuses it. */
		async socketAuthorize(this: AuthThis, socket: AuthSocket) {
			const raw = socket.handshake?.auth?.token ?? socket.handshake?.headers?.authorization;
			if (typeof raw !== "string" || raw === "") {
				throw Object.assign(
					new UnauthorizedError("A token is required: connect with { auth: { token } }", "NO_TOKEN"),
					{}
				);
			}
			const token = raw.replace(/^Bearer\s+/i, "");
			const user = await this.userFromToken(token);
			// Disconnect when the token expires; a revoked token's sockets are dropped by the event.
			const timer = setTimeout(
				() => socket.disconnect(true),
				Math.min(user.exp * 1000 - Date.now(), 2 ** 31 - 1)
			);
			timer.unref();
			socket.on?.("disconnect", () => clearTimeout(timer));
			socket.data = { ...(socket.data ?? {}), user, claims: this.authTokenCache.get(token) };
			return user;
		},

		dropSocketsOfUser(this: AuthThis, id: number) {
			const nsps = this.io?._nsps;
			if (!nsps) return;
			for (const nsp of nsps.values()) {
				for (const socket of nsp.sockets.values()) {
					if (socket.client?.user?.id === id || socket.data?.user?.id === id) socket.disconnect(true);
				}
			}
		},

		dropSocketsOf(this: AuthThis, jti: string) {
			const nsps = this.io?._nsps;
			if (!nsps) return;
			for (const nsp of nsps.values()) {
				for (const socket of nsp.sockets.values()) {
					if (socket.client?.user?.jti === jti || socket.data?.user?.jti === jti) socket.disconnect(true);
				}
			}
		},

		/** Security headers and CORS for every HTTP request; true when the request was answered here (preflight). */
		handleSecurity(this: AuthThis, req: IncomingMessage, res: ServerResponse): boolean {
			const url = req.url ?? "/";
			const secure =
				!!(req.socket as { encrypted?: boolean }).encrypted ||
				(this.env.trustProxy && req.headers["x-forwarded-proto"] === "https");
			for (const [k, v] of headerSet(secure, url.startsWith("/api"))) res.setHeader(k, v);
			const origin = req.headers.origin;
			if (!origin) return false;
			// The public ASU paths answer any origin (LuCI calls them from the router's web UI), as upstream's
			// deployment does.
			const allowed = isAsuPath(url) ? "*" : allowedOrigin(origin, this.env.corsOrigins);
			res.setHeader("Vary", "Origin");
			const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] != null;
			if (allowed) {
				res.setHeader("Access-Control-Allow-Origin", allowed);
				res.setHeader("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate");
			}
			if (!preflight) return false;
			if (!allowed) {
				res.writeHead(403, { "Content-Type": "application/json; charset=utf-8" });
				res.end(
					JSON.stringify({
						name: "CorsError",
						message: `Origin ${origin} is not allowed (CORS_ORIGINS)`,
						code: 403,
						type: "CORS_ORIGIN_NOT_ALLOWED"
					})
				);
				return true;
			}
			res.setHeader("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
			res.setHeader("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID");
			res.setHeader("Access-Control-Max-Age", "600");
			res.writeHead(204, { "Content-Length": "0" });
			res.end();
			return true;
		}
	},

	created(this: AuthThis) {
		this.env = fleetEnv(this.broker);
		this.authRevoked = new Map();
		this.authTokenCache = new Map();
		this.authKeys = null;
		this.authKeysAt = 0;
		this.authUsers = new Map();
		this.authUserLoads = new Map();
		this.authSynced = false;
		this.authSyncing = null;
		// Shared by every gateway when REDIS_URL is set, per instance otherwise.
		this.authLimiter = createAddressLimiter({
			name: "auth",
			perMinute: this.env.authRateLimit,
			redisUrl: this.env.redisUrl,
			namespace: this.broker.namespace
		});
		this.authTimer = null;
		this.authTimeouts = [];
		this.authNodeTimer = null;

		// Request params hold passwords (login, register): never written to the log, at any level.
		this.settings.logRequestParams = null;
		this.settings.logResponseData = null;

		// Runs before moleculer-io's own created/started (mixin lifecycle order), so these
		// settings are in place when the namespaces are registered.
		const io = (this.settings.io ??= {});
		io.namespaces ??= { "/": {} };
		for (const item of Object.values<IoNamespaceSettings>(io.namespaces)) {
			// Secure by default: a namespace added later cannot forget authentication.
			item.authorization = true;
			const call = item.events?.call;
			if (call && typeof call === "object") call.onBeforeCall = checkedSocketCall(call.onBeforeCall);
		}
		if (this.env.corsOrigins?.length) {
			io.options = {
				...(io.options ?? {}),
				cors: {
					origin: this.env.corsOrigins.includes("*") ? "*" : this.env.corsOrigins,
					methods: ["GET", "POST"]
				}
			};
		}
	},

	started(this: AuthThis) {
		// moleculer-web made its server in created(); put the security layer in front of its
		// handler (Socket.IO attaches after this and keeps it for non-socket requests).
		const server = this.server;
		if (server) {
			const handlers = server.listeners("request") as Array<(req: IncomingMessage, res: ServerResponse) => void>;
			server.removeAllListeners("request");
			server.on("request", (req: IncomingMessage, res: ServerResponse) => {
				if (this.handleSecurity(req, res)) return;
				for (const h of handlers) h.call(server, req, res);
			});
		}
		const resync = () =>
			this.syncRevocations().catch(err => {
				// Quiet while no signing service is on the mesh (yet); a failing one is worth a warning.
				if ((err as { type?: string }).type !== "SERVICE_NOT_FOUND")
					this.logger.warn(`revoked-token list not refreshed: ${errorMessage(err)}`);
			});
		this.authTimer = setInterval(() => {
			resync();
		}, RESYNC_INTERVAL_MS);
		this.authTimer.unref();
		// Not awaited: the gateway must start (and serve /health) while signing is still coming up.
		this.broker.waitForServices("signing", 60_000).then(resync, () => undefined);
		// Other nodes learn of a new node only about a second after it starts, and a revocation
		// broadcast in that gap does not reach it: read the list again once the mesh knows us.
		for (const ms of [2000, 5000]) this.authTimeouts.push(setTimeout(() => void resync(), ms));
	},

	stopped(this: AuthThis) {
		if (this.authTimer) clearInterval(this.authTimer);
		for (const t of this.authTimeouts) clearTimeout(t);
		if (this.authNodeTimer) clearTimeout(this.authNodeTimer);
		return Promise.all([this.authLimiter.close(), this.asuLimiter?.close()]).then(() => undefined);
	}
});

export default AuthMixin;
