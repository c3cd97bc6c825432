/**
 * The one access-token verifier (jose), used by the gateways and by signing's verify-token.
 *
 * Only EdDSA is accepted: `alg: none`, HS256 made with a public key (algorithm confusion) and
 * any other algorithm fail before a claim is read. The key is chosen by the token's `kid` from
 * the signing service's public JWKS; a token signed with anything else is invalid.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { JWT_ALGORITHM, JWT_ISSUER, type TokenClaims } from "./contracts/tokens";

export const TOKEN_MAX_LENGTH = 4096;

export type TokenFailure = {
	ok: false;
	reason: "expired" | "invalid" | "malformed" | "unknown-key";
	type: "INVALID_TOKEN" | "TOKEN_EXPIRED";
	message: string;
};
export type TokenVerdict = { ok: true; claims: TokenClaims } | TokenFailure;

/** A key resolver over a JWKS (public keys only). */
export function keysFromJwks(jwks: JSONWebKeySet): JWTVerifyGetKey {
	return createLocalJWKSet(jwks);
}

/** Signature (EdDSA only, key by `kid`), issuer, expiry and the claims' shapes. Never throws. */
export async function verifyAccessToken(keys: JWTVerifyGetKey, token: string): Promise<TokenVerdict> {
	if (typeof token !== "string" || token.length === 0 || token.length > TOKEN_MAX_LENGTH) {
		return { ok: false, reason: "malformed", type: "INVALID_TOKEN", message: "Token is missing or too long" };
	}
	try {
		const { payload } = await jwtVerify(token, keys, {
			algorithms: [JWT_ALGORITHM],
			issuer: JWT_ISSUER,
			requiredClaims: ["sub", "jti", "exp", "iat"]
		});
		const id = Number(payload.sub);
		const ver = payload.ver;
		if (
			!Number.isSafeInteger(id) ||
			id <= 0 ||
			typeof payload.email !== "string" ||
			typeof payload.is_admin !== "boolean" ||
			typeof payload.jti !== "string" ||
			typeof ver !== "number" ||
			!Number.isInteger(ver)
		) {
			return {
				ok: false,
				reason: "invalid",
				type: "INVALID_TOKEN",
				message: "Token claims are not those of a fleetmesh user"
			};
		}
		return {
			ok: true,
			claims: {
				id,
				email: payload.email,
				is_admin: payload.is_admin,
				jti: payload.jti,
				exp: payload.exp as number,
				iat: payload.iat as number,
				ver
			}
		};
	} catch (err) {
		return classifyTokenError(err);
	}
}

/** jose's errors as a reason and a message a client can act on. */
export function classifyTokenError(err: unknown): TokenFailure {
	if (err instanceof joseErrors.JWTExpired)
		return { ok: false, reason: "expired", type: "TOKEN_EXPIRED", message: "Token has expired; log in again" };
	if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
		return {
			ok: false,
			reason: "invalid",
			type: "INVALID_TOKEN",
			message: `Token algorithm is not accepted (only ${JWT_ALGORITHM})`
		};
	}
	if (err instanceof joseErrors.JWKSNoMatchingKey)
		return {
			ok: false,
			reason: "unknown-key",
			type: "INVALID_TOKEN",
			message: "Token was not signed by a current signing key"
		};
	if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
		return { ok: false, reason: "invalid", type: "INVALID_TOKEN", message: "Token names no single signing key" };
	if (err instanceof joseErrors.JWSSignatureVerificationFailed)
		return { ok: false, reason: "invalid", type: "INVALID_TOKEN", message: "Token signature is invalid" };
	if (err instanceof joseErrors.JWTClaimValidationFailed)
		return {
			ok: false,
			reason: "invalid",
			type: "INVALID_TOKEN",
			message: `Token claim '${err.claim}' is invalid`
		};
	return { ok: false, reason: "malformed", type: "INVALID_TOKEN", message: "Token is malformed" };
}

export type BearerResult = { token: string } | { error: string; type: string };

/** Reads `Authorization: Bearer <token>`; anything else is a clear error. */
export function parseBearer(header: string | string[] | undefined): BearerResult {
	if (header == null || header === "")
		return { error: "A token is required: send 'Authorization: Bearer <token>'", type: "NO_TOKEN" };
	if (Array.isArray(header)) return { error: "Send exactly one Authorization header", type: "INVALID_TOKEN" };
	const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
	if (!m) return { error: "The Authorization header must be 'Bearer <token>'", type: "INVALID_TOKEN" };
	if (m[1].length > TOKEN_MAX_LENGTH) return { error: "Token is too long", type: "INVALID_TOKEN" };
	return { token: m[1] };
}
