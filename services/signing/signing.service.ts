/**
 * signing: users (Argon2id), EdDSA access tokens, revocation, live user state, and the device CA
 * (for the MQTT field controllers' mTLS). The only holder of the token signing keys and the CA key.
 *
 * HTTP (under /api, access by each action's `auth`, the one policy of mixins/authorization.ts):
 *   POST   /users/add                 public  register
 *   POST   /users/auth                public  log in → { access_token, token_type, expires_in } (OAuth2 shape)
 *   POST   /users/verify-token        public  { valid, reason?, message?, user?, expiresAt? }
 *   GET    /users                     admin   list users
 *   GET    /users/me                  user    who the token belongs to (current role)
 *   POST   /users/me/password         user    change one's own password (old one required; every session ends)
 *   GET    /users/:id                 admin   one user
 *   PUT    /users/:id/role            admin   { role: "admin" | "user" } (not the last administrator)
 *   DELETE /users/:id                 admin   delete (its tokens die at once)
 *   POST   /users/:id/reset-password  admin   a new password (given or generated, shown once); sessions end
 *   POST   /users/logout              user    revoke the caller's token
 *   GET    /certs/ca                  public  the device CA certificate
 *   GET    /certs/jwks                public  the public keys tokens are verified with
 *   POST   /certs/jwks/rotate         admin   a new signing key (the old one verifies until its tokens expire)
 *   POST   /certs/devices             admin   a client certificate for a controller MAC, from its CSR
 * Mesh-internal (visibility "public", never routed): signing.jwks, signing.userState,
 * signing.revokedTokens, signing.issueServerCert (from a CSR). No action answers key material.
 * Events (services/shared/contracts/tokens.ts): token revoked, user changed, keys changed.
 */
import net from "node:net";
import path from "node:path";
import type { Context, Service } from "moleculer";
import { requireCaller } from "../../mixins/authorization";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import { PASSWORD_HASH_BULKHEAD } from "../shared/bulkheads";
import {
	KEYS_CHANGED_EVENT,
	TOKEN_REVOKED_EVENT,
	USER_CHANGED_EVENT,
	type UserChangedEvent,
	type UserState
} from "../shared/contracts/tokens";
import { ConfigError, type FleetEnv } from "../shared/env";
import { addStartNotes, existingPasswordFile, writeAdminPasswordFile } from "../shared/first-start";
import {
	ConflictError,
	NotFoundError,
	TooManyRequestsError,
	UnauthorizedError,
	UnprocessableError
} from "../shared/errors";
import { DEFAULT_PAGE, decodeCursor, isPositiveInt, pageOf, pageParams, toPage } from "../shared/lists";
import {
	CaCertificate,
	DeviceCertificate,
	Jwks,
	KeysRotated,
	LoggedOut,
	MeView,
	PasswordChanged,
	PasswordReset,
	TokenCheck,
	TokenResponse,
	USER_ROLES,
	UserView,
	type UserRole
} from "../shared/contracts/api";
import { Deleted } from "../shared/contracts/schema";
import { idParam } from "../shared/params";
import { keysFromJwks, verifyAccessToken } from "../shared/tokens";
import { deviceCommonName, issueFromCsr, loadOrCreateCA, type CertificateAuthority } from "./ca";
import { LoginThrottle, RevocationList } from "./limits";
import {
	burnVerify,
	emailProblem,
	hashPassword,
	normaliseEmail,
	passwordProblem,
	verifyPassword,
	EMAIL_MAX,
	PASSWORD_MAX
} from "./passwords";
import { issueToken, loadOrCreateKeys, reloadKeys, rotateKeys, type KeyRing } from "./tokens";
import * as users from "./users";
import { errorMessage } from "../shared/error-message";
import { defineService } from "../shared/define-service";

export { TOKEN_REVOKED_EVENT };
const DEFAULT_ADMIN_EMAIL = "admin@fleetmesh.local";
const PURGE_INTERVAL_MS = 10 * 60_000;
const RELOAD_INTERVAL_MS = 15_000;

type Meta = {
	user?: { id: number; email: string; is_admin: boolean; jti: string; exp?: number } | null;
	clientIp?: string;
	$statusCode?: number;
	$location?: string;
	$responseHeaders?: Record<string, string>;
};
type Ctx<P = Record<string, never>> = Context<P, Meta>;

interface SigningMethods {
	db: Database;
	env: FleetEnv;
	keys: KeyRing;
	verifyKeys: ReturnType<typeof keysFromJwks>;
	ca: CertificateAuthority;
	revoked: RevocationList;
	throttle: LoginThrottle;
	purgeTimer: NodeJS.Timeout | null;
	reloadTimer: NodeJS.Timeout | null;
	validEmail(raw: string): string;
	validPassword(password: string, email: string, field: string): void;
	ensureAdmin(): Promise<void>;
	noteAdmin(): Promise<void>;
	loadRevocations(): Promise<void>;
	purgeExpired(): Promise<void>;
	useKeys(ring: KeyRing): void;
	announce(state: UserState): Promise<void>;
}
type This = Service & SigningMethods;

/** Register and login take the same body; anything else in it is refused (422). */
const credentialsParams = {
	email: { type: "string", max: EMAIL_MAX },
	password: { type: "string", max: PASSWORD_MAX },
	$$strict: true
};

const csrParam = { type: "string", min: 100, max: 16_384 } as const;

const SigningService = defineService<This>({
	name: "signing",
	mixins: [DbMixin],
	settings: { rest: "/" },

	actions: {
		add: {
			rest: "POST /users/add",
			answer: UserView,
			rateLimit: "auth",
			bulkhead: PASSWORD_HASH_BULKHEAD,
			auth: "public",
			params: credentialsParams,
			async handler(this: This, ctx: Ctx<{ email: string; password: string }>) {
				const email = this.validEmail(ctx.params.email);
				this.validPassword(ctx.params.password, email, "password");
				// Cheap check first so a flood of duplicates does not each cost an Argon2 hash.
				if (await users.emailExists(this.db, email))
					throw new ConflictError("A user with this email already exists", { field: "email" });
				const row = await users.insertUser(this.db, email, await hashPassword(ctx.params.password));
				if (!row) throw new ConflictError("A user with this email already exists", { field: "email" });
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/users/${row.id}`;
				this.logger.info(`user ${row.id} registered`);
				return users.toUserView(row);
			}
		},

		auth: {
			rest: "POST /users/auth",
			answer: TokenResponse,
			rateLimit: "auth",
			bulkhead: PASSWORD_HASH_BULKHEAD,
			auth: "public",
			params: credentialsParams,
			async handler(this: This, ctx: Ctx<{ email: string; password: string }>) {
				const email = normaliseEmail(ctx.params.email);
				const ip = ctx.meta.clientIp ?? null;
				const wait = this.throttle.attempt(email, ip);
				if (wait > 0) {
					ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, "Retry-After": String(wait) };
					throw new TooManyRequestsError(
						`Too many failed logins for this account; try again in ${wait} s`,
						wait
					);
				}
				const user = await users.credentialsOf(this.db, email);
				const ok = user
					? await verifyPassword(user.password, ctx.params.password)
					: await burnVerify(ctx.params.password);
				// The attempt was counted as a failure already (throttle.attempt); success un-counts it.
				if (!ok || !user) throw new UnauthorizedError("Invalid email or password", "INVALID_CREDENTIALS");
				this.throttle.succeed(email, ip);
				const ttl = this.env.tokenTtlSeconds;
				const { token } = await issueToken(this.keys, user, ttl);
				// The one answer in snake_case: the OAuth2 token response (RFC 6749 §5.1) clients know.
				return { access_token: token, token_type: "bearer", expires_in: ttl };
			}
		},

		verifyToken: {
			rest: "POST /users/verify-token",
			answer: TokenCheck,
			auth: "public",
			params: { token: { type: "string", min: 1, max: 4096 }, $$strict: true },
			async handler(this: This, ctx: Ctx<{ token: string }>) {
				const raw = ctx.params.token.replace(/^Bearer\s+/i, "").trim();
				const check = await verifyAccessToken(this.verifyKeys, raw);
				if (!check.ok)
					return {
						valid: false,
						reason: check.reason === "unknown-key" ? "invalid" : check.reason,
						message: check.message
					};
				const claims = check.claims;
				if (this.revoked.has(claims.jti))
					return { valid: false, reason: "revoked", message: "Token has been revoked (logged out)" };
				// The user as of now: deleted, or its sessions ended by a password change.
				const state = await users.userState(this.db, claims.id);
				if (state.deleted)
					return { valid: false, reason: "revoked", message: "The user of this token no longer exists" };
				if (state.token_version !== claims.ver)
					return {
						valid: false,
						reason: "revoked",
						message: "This session ended (password changed or reset); log in again"
					};
				return {
					valid: true,
					user: { id: claims.id, email: claims.email, role: users.roleOf(state.is_admin) },
					expiresAt: new Date(claims.exp * 1000).toISOString()
				};
			}
		},

		list: {
			rest: "GET /users",
			answer: pageOf(UserView),
			auth: "admin",
			params: { ...pageParams(), $$strict: true },
			/** A list page (docs/api.md): `{ items, nextCursor, total }`, keyed by id. */
			async handler(this: This, ctx: Ctx<{ limit?: number; cursor?: string }>) {
				const limit = ctx.params.limit ?? DEFAULT_PAGE;
				const afterId = decodeCursor(ctx.params.cursor, isPositiveInt);
				const { rows, total } = await users.listUsers(this.db, limit + 1, afterId);
				return toPage(rows.map(users.toUserView), limit, u => u.id, total);
			}
		},

		me: {
			rest: "GET /users/me",
			answer: MeView,
			auth: "user",
			params: { $$strict: true },
			handler(this: This, ctx: Ctx): MeView {
				// The identity the gateway verified, with the role as of now; no database round trip.
				const u = requireCaller(ctx);
				const expiresAt = u.exp ? new Date(u.exp * 1000).toISOString() : null;
				return { id: u.id, email: u.email, role: users.roleOf(u.is_admin), expiresAt };
			}
		},

		/** A user changes its own password: the old one is required; every session of the user ends (this one too). */
		changePassword: {
			rest: "POST /users/me/password",
			answer: PasswordChanged,
			auth: "user",
			rateLimit: "auth",
			bulkhead: PASSWORD_HASH_BULKHEAD,
			params: {
				oldPassword: { type: "string", max: PASSWORD_MAX },
				newPassword: { type: "string", max: PASSWORD_MAX },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ oldPassword: string; newPassword: string }>) {
				const caller = requireCaller(ctx);
				const hash = await users.passwordHashOf(this.db, caller.id);
				if (!hash || !(await verifyPassword(hash, ctx.params.oldPassword))) {
					throw new UnprocessableError("oldPassword is not the current password", [
						{ field: "oldPassword", message: "not the current password" }
					]);
				}
				this.validPassword(ctx.params.newPassword, caller.email, "newPassword");
				const row = await users.setPassword(this.db, caller.id, await hashPassword(ctx.params.newPassword));
				if (!row) throw new UnauthorizedError("The user of this token no longer exists", "TOKEN_REVOKED");
				await this.announce(users.stateOf(row));
				return { changed: true, sessionsRevoked: true };
			}
		},

		// After `me`: aliases match in order, and /users/me must not be taken for an id.
		get: {
			rest: "GET /users/:id",
			answer: UserView,
			auth: "admin",
			params: { id: idParam, $$strict: true },
			async handler(this: This, ctx: Ctx<{ id: number }>) {
				const row = await users.getUser(this.db, ctx.params.id);
				if (!row) throw new NotFoundError("User", ctx.params.id);
				return users.toUserView(row);
			}
		},

		/** Role change: effective on every gateway at once (USER_CHANGED_EVENT), no new token needed. */
		setRole: {
			rest: "PUT /users/:id/role",
			answer: UserView,
			auth: "admin",
			params: { id: idParam, role: { type: "enum", values: [...USER_ROLES] }, $$strict: true },
			async handler(this: This, ctx: Ctx<{ id: number; role: UserRole }>) {
				const row = await users.setRole(this.db, ctx.params.id, ctx.params.role === "admin");
				if (row === "last-admin")
					throw new ConflictError("This is the only administrator: make another user administrator first");
				if (!row) throw new NotFoundError("User", ctx.params.id);
				await this.announce(users.stateOf(row));
				this.logger.info(
					`user ${row.id} role=${users.roleOf(row.is_admin)} (by user ${ctx.meta.user?.id ?? "a service"})`
				);
				return users.toUserView(row);
			}
		},

		remove: {
			rest: "DELETE /users/:id",
			answer: Deleted,
			auth: "admin",
			params: { id: idParam, $$strict: true },
			async handler(this: This, ctx: Ctx<{ id: number }>) {
				const r = await users.deleteUser(this.db, ctx.params.id);
				if (r === "last-admin")
					throw new ConflictError("This is the only administrator: make another user administrator first");
				if (!r) throw new NotFoundError("User", ctx.params.id);
				await this.announce(users.deletedState(ctx.params.id));
				this.logger.info(`user ${ctx.params.id} deleted (by user ${ctx.meta.user?.id ?? "a service"})`);
				return { id: ctx.params.id, deleted: true };
			}
		},

		/** An administrator resets a password (given, or generated and shown once); the user's sessions end. */
		resetPassword: {
			rest: "POST /users/:id/reset-password",
			answer: PasswordReset,
			auth: "admin",
			params: { id: idParam, password: { type: "string", max: PASSWORD_MAX, optional: true }, $$strict: true },
			async handler(this: This, ctx: Ctx<{ id: number; password?: string }>) {
				const target = await users.getUser(this.db, ctx.params.id);
				if (!target) throw new NotFoundError("User", ctx.params.id);
				const password = ctx.params.password ?? users.generatePassword();
				this.validPassword(password, target.email, "password");
				const row = await users.setPassword(this.db, target.id, await hashPassword(password));
				if (!row) throw new NotFoundError("User", ctx.params.id);
				await this.announce(users.stateOf(row));
				return {
					id: row.id,
					email: row.email,
					sessionsRevoked: true,
					...(ctx.params.password ? {} : { password })
				};
			}
		},

		logout: {
			rest: "POST /users/logout",
			answer: LoggedOut,
			auth: "user",
			params: { $$strict: true },
			async handler(this: This, ctx: Ctx) {
				const u = ctx.meta.user;
				if (!u?.jti) throw new UnauthorizedError("Log out needs the token to revoke (Authorization: Bearer …)");
				const exp = u.exp ?? Math.floor(Date.now() / 1000) + this.env.tokenTtlSeconds;
				// Durable first: a token is reported revoked only once the database has it.
				await users.revokeToken(this.db, u.jti, u.id, exp);
				this.revoked.add(u.jti, exp);
				await this.broker.broadcast(TOKEN_REVOKED_EVENT, { jti: u.jti, exp });
				return { revoked: true };
			}
		},

		/** A user's live state for gateways (role, session version, existence): nothing secret. */
		userState: {
			visibility: "public",
			params: { id: idParam },
			handler(this: This, ctx: Ctx<{ id: number }>): Promise<UserState> {
				return users.userState(this.db, ctx.params.id);
			}
		},

		/** Every unexpired revoked token id: what a gateway loads at start and re-reads now and then. */
		revokedTokens: {
			visibility: "public",
			async handler(this: This) {
				return { tokens: await users.revokedTokens(this.db) };
			}
		},

		/** The public keys tokens are verified with (JWKS, RFC 7517): what every gateway uses. */
		jwks: {
			rest: "GET /certs/jwks",
			answer: Jwks,
			auth: "public",
			params: { $$strict: true },
			handler(this: This) {
				return this.keys.jwks;
			}
		},

		/** A new signing key; tokens signed with the previous one stay valid until they expire. */
		rotateKeys: {
			rest: "POST /certs/jwks/rotate",
			answer: KeysRotated,
			auth: "admin",
			params: { $$strict: true },
			async handler(this: This) {
				if (this.keys.source === "env")
					throw new ConflictError(
						"The signing key comes from JWT_PRIVATE_KEY: rotate it there (and restart the signing nodes)"
					);
				this.useKeys(await rotateKeys(this.env.dataDir, this.env.tokenTtlSeconds + 60));
				await this.broker.broadcast(KEYS_CHANGED_EVENT, { kid: this.keys.kid });
				this.logger.info(`token signing key rotated: now ${this.keys.kid}`);
				return { kid: this.keys.kid, keys: this.keys.jwks.keys.map(k => k.kid) };
			}
		},

		ca: {
			rest: "GET /certs/ca",
			answer: CaCertificate,
			auth: "public",
			params: { $$strict: true },
			handler(this: This) {
				return { cert: this.ca.certPem };
			}
		},

		/**
		 * A client certificate for a controller, for the key pair the caller made (its CSR): no private key leaves the
		 * caller.
		 */
		issueDeviceCert: {
			rest: "POST /certs/devices",
			answer: DeviceCertificate,
			auth: "admin",
			params: {
				mac: { type: "string", max: 32 },
				csr: csrParam,
				days: { type: "number", integer: true, min: 1, max: 3650, optional: true, convert: true },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ mac: string; csr: string; days?: number }>) {
				let commonName: string;
				try {
					commonName = deviceCommonName(ctx.params.mac);
				} catch (err) {
					throw new UnprocessableError(errorMessage(err), [{ field: "mac", message: errorMessage(err) }]);
				}
				const issued = await issueFromCsr(this.ca, ctx.params.csr, {
					commonName,
					usage: "client",
					days: ctx.params.days
				}).catch(err => {
					throw new UnprocessableError(`csr: ${errorMessage(err)}`, [
						{ field: "csr", message: errorMessage(err) }
					]);
				});
				const mac = commonName.slice(3).replace(/(..)(?!$)/g, "$1:");
				await users.recordCertificate(this.db, {
					serial: issued.serialNumber,
					commonName,
					mac,
					usage: "client",
					notAfter: issued.notAfter,
					issuedBy: ctx.meta.user?.id ?? null
				});
				this.logger.info(`issued device certificate ${commonName} serial ${issued.serialNumber}`);
				return {
					commonName,
					cert: issued.certPem,
					ca: this.ca.certPem,
					serialNumber: issued.serialNumber,
					notAfter: issued.notAfter
				};
			}
		},

		/** A server certificate (the pipeline's mTLS listener) for the caller's CSR. Mesh-internal. */
		issueServerCert: {
			visibility: "public",
			params: {
				commonName: { type: "string", min: 1, max: 64 },
				hosts: { type: "array", items: { type: "string", min: 1, max: 253 }, max: 50 },
				csr: csrParam,
				days: { type: "number", integer: true, min: 1, max: 3650, optional: true },
				$$strict: true
			},
			async handler(this: This, ctx: Ctx<{ commonName: string; hosts: string[]; csr: string; days?: number }>) {
				const ipAddresses = ctx.params.hosts.filter(h => net.isIP(h));
				const dnsNames = ctx.params.hosts.filter(h => !net.isIP(h));
				const issued = await issueFromCsr(this.ca, ctx.params.csr, {
					commonName: ctx.params.commonName,
					usage: "server",
					dnsNames,
					ipAddresses,
					days: ctx.params.days
				}).catch(err => {
					throw new UnprocessableError(errorMessage(err));
				});
				await users.recordCertificate(this.db, {
					serial: issued.serialNumber,
					commonName: issued.commonName,
					mac: null,
					usage: "server",
					notAfter: issued.notAfter,
					issuedBy: null
				});
				return {
					commonName: issued.commonName,
					cert: issued.certPem,
					ca: this.ca.certPem,
					serialNumber: issued.serialNumber,
					notAfter: issued.notAfter
				};
			}
		}
	},

	events: {
		[TOKEN_REVOKED_EVENT]: {
			params: { jti: { type: "string", max: 64 }, exp: { type: "number" } },
			handler(this: This, ctx: Context<{ jti: string; exp: number }>) {
				this.revoked.add(ctx.params.jti, ctx.params.exp);
			}
		},
		/** Another signing process on this DATA_DIR rotated the key: read the key file again. */
		async [KEYS_CHANGED_EVENT](this: This) {
			this.useKeys(await reloadKeys(this.env.dataDir, this.keys).catch(() => this.keys));
		}
	},

	methods: {
		validEmail(this: This, raw: string): string {
			const email = normaliseEmail(raw);
			const problem = emailProblem(email);
			if (problem) throw new UnprocessableError(problem, [{ field: "email", message: problem }]);
			return email;
		},

		validPassword(this: This, password: string, email: string, field: string) {
			const problem = passwordProblem(password, email);
			if (problem) throw new UnprocessableError(`${field}: ${problem}`, [{ field, message: problem }]);
		},

		useKeys(this: This, ring: KeyRing) {
			this.keys = ring;
			this.verifyKeys = keysFromJwks(ring.jwks);
		},

		/** Tells every gateway (and manager) of a user's new state: they admit or refuse its tokens by it at once. */
		async announce(this: This, state: UserChangedEvent) {
			await this.broker.broadcast(USER_CHANGED_EVENT, state);
		},

		/**
		 * First start with no users: the admin from ADMIN_EMAIL/ADMIN_PASSWORD, or a generated password printed once.
		 */
		async ensureAdmin(this: This) {
			if ((await users.countUsers(this.db)) > 0) return this.noteAdmin();
			const email = normaliseEmail(this.env.adminEmail ?? DEFAULT_ADMIN_EMAIL);
			const emailIssue = emailProblem(email);
			if (emailIssue) throw new ConfigError("ADMIN_EMAIL", emailIssue);
			const generated = this.env.adminPassword == null;
			const password = this.env.adminPassword ?? users.generatePassword();
			const problem = passwordProblem(password, email);
			if (problem) throw new ConfigError("ADMIN_PASSWORD", problem);
			if (!(await users.insertFirstAdmin(this.db, email, await hashPassword(password)))) return;
			if (generated) {
				// The password goes into the start-up summary at the end of the output (and a 0600 file), not into this
				// line.
				const file = writeAdminPasswordFile(this.env.dataDir, email, password);
				addStartNotes({ adminEmail: email, adminPassword: password, passwordFile: file ?? undefined });
				this.logger.warn(
					`first start: created administrator ${email}; the generated password is in the ` +
						`start-up summary below${file ? "" : " (it could not be written to DATA_DIR)"}; set ` +
						`ADMIN_PASSWORD to choose it (lost it? npm run admin -- reset-password ${email})`
				);
			} else {
				addStartNotes({ adminEmail: email });
				this.logger.info(`first start: created administrator ${email} (password from ADMIN_PASSWORD)`);
			}
		},

		/** Later starts: the summary names the first administrator (and the password file while it exists). */
		async noteAdmin(this: This) {
			const email = await users.firstAdminEmail(this.db);
			if (email)
				addStartNotes({ adminEmail: email, passwordFile: existingPasswordFile(this.env.dataDir) ?? undefined });
		},

		async loadRevocations(this: This) {
			this.revoked.merge(await users.revokedTokens(this.db));
		},

		async purgeExpired(this: This) {
			const n = await users.purgeRevoked(this.db);
			this.revoked.purge();
			this.throttle.purge();
			if (n) this.logger.info(`purged ${n} expired revoked-token records`);
		}
	},

	created(this: This) {
		this.env = fleetEnv(this.broker);
		this.revoked = new RevocationList();
		this.throttle = new LoginThrottle(this.env.authMaxFailures);
		this.purgeTimer = null;
		this.reloadTimer = null;
	},

	async started(this: This) {
		// DbMixin's started has run: this.db is open and migrated.
		this.useKeys(await loadOrCreateKeys(this.env.dataDir, this.env.jwtPrivateKey));
		this.ca = await loadOrCreateCA(path.join(this.env.dataDir, "certs"), {
			FLEET_CA_CERT: this.env.caCert ?? undefined,
			FLEET_CA_KEY: this.env.caKey ?? undefined
		});
		await this.ensureAdmin();
		await this.loadRevocations();
		await this.purgeExpired();
		this.purgeTimer = setInterval(() => {
			this.purgeExpired().catch(err =>
				this.logger.warn(`purging expired revoked tokens failed: ${errorMessage(err)}`)
			);
		}, PURGE_INTERVAL_MS);
		this.purgeTimer.unref();
		// Another signing instance's logout broadcast can miss this one (it joined less than a
		// second ago, or the link dropped): re-read the table now and then, as the gateways do.
		this.reloadTimer = setInterval(() => {
			this.loadRevocations().catch(err =>
				this.logger.warn(`re-reading revoked tokens failed: ${errorMessage(err)}`)
			);
		}, RELOAD_INTERVAL_MS);
		this.reloadTimer.unref();
		registerHealthCheck(this.broker, "signing", async () => ({ revoked: this.revoked.size, kid: this.keys.kid }));
	},

	stopped(this: This) {
		if (this.purgeTimer) clearInterval(this.purgeTimer);
		if (this.reloadTimer) clearInterval(this.reloadTimer);
	}
});

export default SigningService;
