/**
 * signing: users (Argon2id), JWT access tokens, revocation, and the device CA (seed 001, seed 003).
 *
 * HTTP (under /api, access enforced by the gateway's auth mixin from each action's `auth`):
 *   POST /users/add            public  register
 *   POST /users/auth           public  log in → { access_token, token_type, expires_in }
 *   POST /users/verify-token   public  { valid, reason?, message?, user?, exp? }
 *   GET  /users                admin   list users
 *   GET  /users/:id            admin   one user
 *   GET  /users/me             user    who the token belongs to
 *   POST /users/logout         user    revoke the caller's token
 *   GET  /certs/ca             public  the device CA certificate
 *   POST /certs/devices        admin   a client certificate for a controller MAC
 * Internal (visibility "public": callable over the mesh, never published over HTTP):
 *   signing.issueServerCert, signing.revokedTokens, signing.jwtKey
 * Event: `signing.token.revoked` { jti, exp } broadcast on logout; every gateway and signing
 * instance adds it to its in-memory revocation list.
 */
import crypto from "node:crypto";
import net from "node:net";
import path from "node:path";
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import type { Row } from "../../mixins/db/database";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import type { UserState } from "../shared/contracts/tokens";
import { idParam } from "../shared/params";
import { ConfigError, type FleetEnv } from "../shared/env";
import { ConflictError, NotFoundError, TooManyRequestsError, UnauthorizedError, UnprocessableError } from "../shared/errors";
import { deviceCommonName, issueCertificate, loadOrCreateCA, type CertificateAuthority } from "./ca";
import { LoginThrottle, RevocationList } from "./limits";
import { burnVerify, emailProblem, hashPassword, normaliseEmail, passwordProblem, verifyPassword, EMAIL_MAX, PASSWORD_MAX } from "./passwords";
import { checkToken, importHmacKey, issueToken, loadOrCreateJwtKey, type TokenCheck } from "./tokens";

export const TOKEN_REVOKED_EVENT = "signing.token.revoked";
const DEFAULT_ADMIN_EMAIL = "admin@fleetmesh.local";
const PURGE_INTERVAL_MS = 10 * 60_000;
const RELOAD_INTERVAL_MS = 15_000;

export interface MetaUser {
	id: number;
	email: string;
	is_admin: boolean;
	jti: string;
	exp?: number;
}

type Meta = { user?: MetaUser | null; clientIp?: string; $statusCode?: number; $location?: string; $responseHeaders?: Record<string, string> };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each action's `params` schema checks what arrives
type Ctx<P = Record<string, any>> = Context<P, Meta>;

interface SigningMethods {
	db: Database;
	env: FleetEnv;
	jwtKey: Uint8Array;
	hmacKey: CryptoKey;
	verifiedTokens: Map<string, Extract<TokenCheck, { ok: true }>["claims"]>;
	ca: CertificateAuthority;
	revoked: RevocationList;
	throttle: LoginThrottle;
	purgeTimer: NodeJS.Timeout | null;
	reloadTimer: NodeJS.Timeout | null;
	validEmail(raw: string): string;
	ensureAdmin(): Promise<void>;
	loadRevocations(): Promise<void>;
	purgeExpired(): Promise<void>;
	recordCertificate(serial: string, commonName: string, mac: string | null, usage: "client" | "server", notAfter: string, issuedBy: number | null): Promise<void>;
}
type This = Service & SigningMethods;

const publicUser = (r: Row) => ({
	id: r.id,
	email: r.email,
	is_admin: r.is_admin,
	created_at: r.created_at instanceof Date ? r.created_at.toISOString() : r.created_at,
	updated_at: r.updated_at instanceof Date ? r.updated_at.toISOString() : r.updated_at
});

/** Register and login take the same body; anything else in it is refused (422). */
const credentialsParams = {
	email: { type: "string", max: EMAIL_MAX },
	password: { type: "string", max: PASSWORD_MAX },
	$$strict: true
};

const SigningService: ServiceSchema = {
	name: "signing",
	mixins: [DbMixin],
	settings: { rest: "/" },

	actions: {
		add: {
			rest: "POST /users/add",
			rateLimit: "auth",
			auth: "public",
			params: credentialsParams,
			async handler(this: This, ctx: Ctx<{ email: string; password: string }>) {
				const email = this.validEmail(ctx.params.email);
				const problem = passwordProblem(ctx.params.password, email);
				if (problem) throw new UnprocessableError(problem, [{ field: "password", message: problem }]);
				// Cheap check first so a flood of duplicates does not each cost an Argon2 hash.
				const existing = await this.db.query("SELECT 1 FROM t_users WHERE email = $1", [email]);
				if (existing.length) throw new ConflictError("A user with this email already exists", { field: "email" });
				const hash = await hashPassword(ctx.params.password);
				// The unique key decides between concurrent registrations of one address.
				const rows = await this.db.query(
					"INSERT INTO t_users (email, password) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING RETURNING id, email, is_admin, created_at, updated_at",
					[email, hash]
				);
				if (!rows.length) throw new ConflictError("A user with this email already exists", { field: "email" });
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/users/${rows[0].id}`;
				this.logger.info(`user ${rows[0].id} registered`);
				return publicUser(rows[0]);
			}
		},

		auth: {
			rest: "POST /users/auth",
			rateLimit: "auth",
			auth: "public",
			params: credentialsParams,
			async handler(this: This, ctx: Ctx<{ email: string; password: string }>) {
				const email = normaliseEmail(ctx.params.email);
				const ip = ctx.meta.clientIp ?? null;
				const wait = this.throttle.attempt(email, ip);
				if (wait > 0) {
					ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, "Retry-After": String(wait) };
					throw new TooManyRequestsError(`Too many failed logins for this account; try again in ${wait} s`, wait);
				}
				const rows = await this.db.query("SELECT id, email, password, is_admin FROM t_users WHERE email = $1", [email]);
				const ok = rows.length ? await verifyPassword(rows[0].password, ctx.params.password) : await burnVerify(ctx.params.password);
				// The attempt was counted as a failure already (throttle.attempt); success un-counts it.
				if (!ok) throw new UnauthorizedError("Invalid email or password", "INVALID_CREDENTIALS");
				this.throttle.succeed(email, ip);
				const user = rows[0];
				const ttl = this.env.tokenTtlSeconds;
				const { token } = await issueToken(this.hmacKey, { id: user.id, email: user.email, is_admin: user.is_admin }, ttl);
				return { access_token: token, token_type: "bearer", expires_in: ttl };
			}
		},

		verifyToken: {
			rest: "POST /users/verify-token",
			auth: "public",
			params: { token: { type: "string", min: 1, max: 4096 }, $$strict: true },
			async handler(this: This, ctx: Ctx<{ token: string }>) {
				const raw = ctx.params.token.replace(/^Bearer\s+/i, "").trim();
				// Only tokens that passed the signature check are cached (keyed by the whole token).
				let claims = this.verifiedTokens.get(raw);
				if (!claims) {
					const check = await checkToken(this.hmacKey, raw);
					if (!check.ok) return { valid: false, reason: check.reason, message: check.message };
					claims = check.claims;
					if (this.verifiedTokens.size >= 10_000) this.verifiedTokens.clear();
					this.verifiedTokens.set(raw, claims);
				}
				if (claims.exp * 1000 <= Date.now()) {
					this.verifiedTokens.delete(raw);
					return { valid: false, reason: "expired", message: "Token has expired; log in again" };
				}
				if (this.revoked.has(claims.jti)) return { valid: false, reason: "revoked", message: "Token has been revoked (logged out)" };
				const { id, email, is_admin, exp } = claims;
				return { valid: true, user: { id, email, is_admin }, exp, expires_at: new Date(exp * 1000).toISOString() };
			}
		},

		list: {
			rest: "GET /users",
			auth: "admin",
			params: {
				limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true },
				offset: { type: "number", integer: true, min: 0, optional: true, convert: true },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ limit?: number; offset?: number }>) {
				const limit = ctx.params.limit ?? 100;
				const offset = ctx.params.offset ?? 0;
				const [rows, count] = await Promise.all([
					this.db.query("SELECT id, email, is_admin, created_at, updated_at FROM t_users ORDER BY id LIMIT $1 OFFSET $2", [limit, offset]),
					this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM t_users")
				]);
				return { users: rows.map(publicUser), total: count[0].n, limit, offset };
			}
		},

		me: {
			rest: "GET /users/me",
			auth: "user",
			params: { $$strict: true },
			handler(this: This, ctx: Ctx) {
				// The identity the gateway verified; no database round trip.
				const u = ctx.meta.user;
				if (!u) throw new UnauthorizedError();
				return { id: u.id, email: u.email, is_admin: u.is_admin, exp: u.exp };
			}
		},

		// After `me`: aliases match in order, and /users/me must not be taken for an id.
		get: {
			rest: "GET /users/:id",
			auth: "admin",
			params: { id: { type: "number", integer: true, positive: true, convert: true }, $$strict: true },
			async handler(this: This, ctx: Ctx<{ id: number }>) {
				const rows = await this.db.query("SELECT id, email, is_admin, created_at, updated_at FROM t_users WHERE id = $1", [ctx.params.id]);
				if (!rows.length) throw new NotFoundError("User", ctx.params.id);
				return publicUser(rows[0]);
			}
		},

		logout: {
			rest: "POST /users/logout",
			auth: "user",
			params: { $$strict: true },
			async handler(this: This, ctx: Ctx) {
				const u = ctx.meta.user;
				if (!u?.jti) throw new UnauthorizedError("Log out needs the token to revoke (Authorization: Bearer …)");
				const exp = u.exp ?? Math.floor(Date.now() / 1000) + this.env.tokenTtlSeconds;
				// Durable first: a token is reported revoked only once the database has it.
				await this.db.query(
					"INSERT INTO t_blacklist_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT (jti) DO NOTHING",
					[u.jti, u.id, exp]
				);
				this.revoked.add(u.jti, exp);
				await this.broker.broadcast(TOKEN_REVOKED_EVENT, { jti: u.jti, exp });
				return { revoked: true };
			}
		},

		/** A user's live state for gateways (role, session version, existence): nothing secret. */
		userState: {
			visibility: "public",
			params: { id: idParam },
			async handler(this: This, ctx: Ctx<{ id: number }>): Promise<UserState> {
				const rows = await this.db.query<{ is_admin: boolean; token_version: number }>("SELECT is_admin, token_version FROM t_users WHERE id = $1", [ctx.params.id]);
				if (!rows.length) return { id: ctx.params.id, is_admin: false, token_version: -1, deleted: true };
				return { id: ctx.params.id, is_admin: rows[0].is_admin, token_version: Number(rows[0].token_version), deleted: false };
			}
		},

		/** Every unexpired revoked token id: what a gateway loads at start and re-reads now and then. */
		revokedTokens: {
			visibility: "public",
			async handler(this: This) {
				const rows = await this.db.query<{ jti: string; exp: string }>(
					"SELECT jti, floor(extract(epoch from expires_at))::bigint AS exp FROM t_blacklist_tokens WHERE expires_at > now()"
				);
				return { tokens: rows.map(r => ({ jti: r.jti, exp: Number(r.exp) })) };
			}
		},

		/**
		 * The HS256 key for gateways that have no JWT_SECRET of their own (one shared DATA_DIR,
		 * or the all-in-one node). Mesh-internal; with JWT_SECRET set everywhere it is never asked for.
		 */
		jwtKey: {
			visibility: "public",
			handler(this: This) {
				return { key: Buffer.from(this.jwtKey).toString("base64") };
			}
		},

		ca: {
			rest: "GET /certs/ca",
			auth: "public",
			params: { $$strict: true },
			handler(this: This) {
				return { cert: this.ca.certPem };
			}
		},

		issueDeviceCert: {
			rest: "POST /certs/devices",
			auth: "admin",
			params: {
				mac: { type: "string", max: 32 },
				days: { type: "number", integer: true, min: 1, max: 3650, optional: true, convert: true },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ mac: string; days?: number }>) {
				let commonName: string;
				try {
					commonName = deviceCommonName(ctx.params.mac);
				} catch (err) {
					throw new UnprocessableError((err as Error).message, [{ field: "mac", message: (err as Error).message }]);
				}
				const issued = await issueCertificate(this.ca, { commonName, usage: "client", days: ctx.params.days });
				const mac = commonName.slice(3).replace(/(..)(?!$)/g, "$1:");
				await this.recordCertificate(issued.serialNumber, commonName, mac, "client", issued.notAfter, ctx.meta.user?.id ?? null);
				this.logger.info(`issued device certificate ${commonName} serial ${issued.serialNumber}`);
				return { commonName, cert: issued.certPem, key: issued.keyPem, ca: this.ca.certPem, serialNumber: issued.serialNumber, notAfter: issued.notAfter };
			}
		},

		issueServerCert: {
			visibility: "public",
			params: {
				commonName: { type: "string", min: 1, max: 64 },
				hosts: { type: "array", items: { type: "string", min: 1, max: 253 }, max: 50 },
				days: { type: "number", integer: true, min: 1, max: 3650, optional: true },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ commonName: string; hosts: string[]; days?: number }>) {
				const ipAddresses = ctx.params.hosts.filter(h => net.isIP(h));
				const dnsNames = ctx.params.hosts.filter(h => !net.isIP(h));
				let issued;
				try {
					issued = await issueCertificate(this.ca, { commonName: ctx.params.commonName, usage: "server", dnsNames, ipAddresses, days: ctx.params.days });
				} catch (err) {
					throw new UnprocessableError((err as Error).message);
				}
				await this.recordCertificate(issued.serialNumber, issued.commonName, null, "server", issued.notAfter, ctx.meta.user?.id ?? null);
				return { commonName: issued.commonName, cert: issued.certPem, key: issued.keyPem, ca: this.ca.certPem, serialNumber: issued.serialNumber, notAfter: issued.notAfter };
			}
		}
	},

	events: {
		[TOKEN_REVOKED_EVENT]: {
			params: { jti: { type: "string", max: 64 }, exp: { type: "number" } },
			handler(this: This, ctx: Context<{ jti: string; exp: number }>) {
				this.revoked.add(ctx.params.jti, ctx.params.exp);
			}
		}
	},

	methods: {
		validEmail(this: This, raw: string): string {
			const email = normaliseEmail(raw);
			const problem = emailProblem(email);
			if (problem) throw new UnprocessableError(problem, [{ field: "email", message: problem }]);
			return email;
		},

		/** First start with no users: the admin from ADMIN_EMAIL/ADMIN_PASSWORD, or a generated password printed once. */
		async ensureAdmin(this: This) {
			const [{ n }] = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM t_users");
			if (n > 0) return;
			const email = normaliseEmail(this.env.adminEmail ?? DEFAULT_ADMIN_EMAIL);
			const emailIssue = emailProblem(email);
			if (emailIssue) throw new ConfigError("ADMIN_EMAIL", emailIssue);
			const generated = this.env.adminPassword == null;
			const password = this.env.adminPassword ?? crypto.randomBytes(18).toString("base64url") + "-7";
			const problem = passwordProblem(password, email);
			if (problem) throw new ConfigError("ADMIN_PASSWORD", problem);
			const hash = await hashPassword(password);
			// NOT EXISTS + the unique key: two signing nodes starting together create one admin.
			const rows = await this.db.query(
				"INSERT INTO t_users (email, password, is_admin) SELECT $1, $2, true WHERE NOT EXISTS (SELECT 1 FROM t_users) ON CONFLICT (email) DO NOTHING RETURNING id",
				[email, hash]
			);
			if (!rows.length) return;
			if (generated) {
				this.logger.warn(`first start: created administrator ${email} with the generated password ${password} — shown only this once; set ADMIN_PASSWORD to choose it`);
			} else {
				this.logger.info(`first start: created administrator ${email} (password from ADMIN_PASSWORD)`);
			}
		},

		async loadRevocations(this: This) {
			const rows = await this.db.query<{ jti: string; exp: string }>(
				"SELECT jti, floor(extract(epoch from expires_at))::bigint AS exp FROM t_blacklist_tokens WHERE expires_at > now()"
			);
			this.revoked.merge(rows.map(r => ({ jti: r.jti, exp: Number(r.exp) })));
		},

		async purgeExpired(this: This) {
			const rows = await this.db.query("DELETE FROM t_blacklist_tokens WHERE expires_at < now() RETURNING id");
			this.revoked.purge();
			this.throttle.purge();
			if (rows.length) this.logger.info(`purged ${rows.length} expired revoked-token records`);
		},

		async recordCertificate(this: This, serial, commonName, mac, usage, notAfter, issuedBy) {
			await this.db.query(
				"INSERT INTO t_certificates (serial_number, common_name, mac, usage, not_after, issued_by) VALUES ($1, $2, $3, $4, $5, $6)",
				[serial, commonName, mac, usage, notAfter, issuedBy]
			);
		}
	},

	created(this: Service) {
		const self = this as This;
		self.env = fleetEnv(this.broker);
		self.revoked = new RevocationList();
		self.verifiedTokens = new Map();
		self.throttle = new LoginThrottle(self.env.authMaxFailures);
		self.purgeTimer = null;
		self.reloadTimer = null;
	},

	async started(this: Service) {
		const self = this as This;
		// DbMixin's started has run: self.db is open and migrated.
		self.jwtKey = loadOrCreateJwtKey(self.env.dataDir, self.env.jwtSecret);
		self.hmacKey = await importHmacKey(self.jwtKey);
		self.ca = await loadOrCreateCA(path.join(self.env.dataDir, "certs"), {
			FLEET_CA_CERT: self.env.caCert ?? undefined,
			FLEET_CA_KEY: self.env.caKey ?? undefined
		});
		await self.ensureAdmin();
		await self.loadRevocations();
		await self.purgeExpired();
		self.purgeTimer = setInterval(() => {
			self.purgeExpired().catch(err => this.logger.warn(`purging expired revoked tokens failed: ${(err as Error).message}`));
		}, PURGE_INTERVAL_MS);
		self.purgeTimer.unref();
		// Another signing instance's logout broadcast can miss this one (it joined less than a
		// second ago, or the link dropped): re-read the table now and then, as the gateways do.
		self.reloadTimer = setInterval(() => {
			self.loadRevocations().catch(err => this.logger.warn(`re-reading revoked tokens failed: ${(err as Error).message}`));
		}, RELOAD_INTERVAL_MS);
		self.reloadTimer.unref();
		registerHealthCheck(this.broker, "signing", async () => ({ revoked: self.revoked.size }));
	},

	stopped(this: Service) {
		const self = this as This;
		if (self.purgeTimer) clearInterval(self.purgeTimer);
		if (self.reloadTimer) clearInterval(self.reloadTimer);
	}
};

export default SigningService;
