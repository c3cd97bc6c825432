/**
 * Contracts of tokens and users between signing (which issues tokens and owns the users) and
 * every node that checks tokens (gateways) or reacts to user changes (manager).
 *
 * Tokens are EdDSA (Ed25519) JWTs signed by the signing service alone; the public keys travel
 * as a JWKS (`signing.jwks`, also `GET /api/certs/jwks`). Claims: sub (user id), email,
 * is_admin (as at issue: the gateway uses the user's current role instead), ver (the user's
 * session version: a password change or reset bumps it and so ends every older session),
 * jti, iat, exp, iss.
 */

export const JWT_ISSUER = "fleetmesh";
export const JWT_ALGORITHM = "EdDSA";

/** Broadcast on logout: `{ jti, exp }`; every gateway refuses that token from then on. */
export const TOKEN_REVOKED_EVENT = "signing.token.revoked";

/**
 * Broadcast when a user's role, sessions or existence changed (role change, password change or
 * reset, delete): `UserChangedEvent`. Gateways update their cached state of that user at once.
 */
export const USER_CHANGED_EVENT = "signing.user.changed";

/** Broadcast after a key rotation: gateways read the JWKS again. */
export const KEYS_CHANGED_EVENT = "signing.keys.changed";

export const SIGNING_ACTIONS = {
	/** `{}` → `{ keys: JWK[] }`: public keys only. */
	jwks: "signing.jwks",
	/** `{ id }` → `UserState` (`deleted: true` for an unknown id). */
	userState: "signing.userState",
	/** `{}` → `{ tokens: [{ jti, exp }] }`: unexpired revoked token ids. */
	revokedTokens: "signing.revokedTokens"
} as const;

/** What a gateway needs to know about a user to admit a request: nothing secret. */
export interface UserState {
	id: number;
	is_admin: boolean;
	/** Session version: tokens with another `ver` are refused. */
	token_version: number;
	deleted: boolean;
}

export type UserChangedEvent = UserState;

/** The caller of a request, as put in `ctx.meta.user` by the gateway (role as of now). */
export interface AuthUser {
	id: number;
	email: string;
	is_admin: boolean;
	jti: string;
	/** Expiry of the token, seconds since the epoch. */
	exp: number;
}

/** Verified claims of an access token (before the user's live state is applied). */
export interface TokenClaims extends AuthUser {
	ver: number;
	iat: number;
}
