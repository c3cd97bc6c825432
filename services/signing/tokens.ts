/**
 * Access tokens: HS256 JWTs made and checked with jose.
 *
 * Claims: sub (user id), email, is_admin, jti (what logout revokes), iat, exp, iss. Only HS256
 * is accepted, so `alg: none` and algorithm-confusion tokens fail before any claim is read.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { SignJWT, errors as joseErrors, jwtVerify } from "jose";
import { ConfigError } from "../shared/env";

export const ISSUER = "fleetmesh";
export const ALGORITHM = "HS256";
const KEY_FILE = "jwt.key";

export interface TokenUser {
	id: number;
	email: string;
	is_admin: boolean;
}

export interface TokenClaims extends TokenUser {
	jti: string;
	/** Expiry, seconds since the epoch. */
	exp: number;
}

export type TokenCheck =
	| { ok: true; claims: TokenClaims }
	| { ok: false; reason: "expired" | "invalid" | "malformed"; message: string };

/**
 * The signing key: JWT_SECRET (at least 32 characters) or 64 random bytes generated once into
 * DATA_DIR/jwt.key with mode 600. Every node that signs or checks tokens must see the same key:
 * several signing nodes need a shared JWT_SECRET.
 */
export function loadOrCreateJwtKey(dataDir: string, secret: string | null): Uint8Array {
	if (secret != null) {
		if (secret.length < 32) throw new ConfigError("JWT_SECRET", "must be at least 32 characters (e.g. `openssl rand -base64 48`)");
		return new TextEncoder().encode(secret);
	}
	const file = path.join(dataDir, KEY_FILE);
	fs.mkdirSync(dataDir, { recursive: true });
	try {
		fs.writeFileSync(file, crypto.randomBytes(64).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
	}
	const mode = fs.statSync(file).mode & 0o077;
	if (mode !== 0) fs.chmodSync(file, 0o600);
	const key = Buffer.from(fs.readFileSync(file, "utf8").trim(), "base64");
	if (key.length < 32) throw new Error(`${file} holds fewer than 32 key bytes; delete it to generate a new key (all tokens become invalid)`);
	return new Uint8Array(key);
}

/** The key as a WebCrypto key, imported once: jose would otherwise import raw bytes on every call. */
export function importHmacKey(raw: Uint8Array): Promise<CryptoKey> {
	return crypto.webcrypto.subtle.importKey("raw", new Uint8Array(raw), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]) as Promise<CryptoKey>;
}

export async function issueToken(key: Uint8Array | CryptoKey, user: TokenUser, ttlSeconds: number): Promise<{ token: string; jti: string; exp: number }> {
	const now = Math.floor(Date.now() / 1000);
	const exp = now + ttlSeconds;
	const jti = crypto.randomUUID();
	const token = await new SignJWT({ email: user.email, is_admin: user.is_admin })
		.setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
		.setSubject(String(user.id))
		.setIssuer(ISSUER)
		.setJti(jti)
		.setIssuedAt(now)
		.setExpirationTime(exp)
		.sign(key);
	return { token, jti, exp };
}

/** Checks signature, algorithm, issuer, expiry and the claims' shapes. Never throws. */
export async function checkToken(key: Uint8Array | CryptoKey, token: string): Promise<TokenCheck> {
	if (typeof token !== "string" || token.length === 0 || token.length > 4096) {
		return { ok: false, reason: "malformed", message: "Token is missing or too long" };
	}
	try {
		const { payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], issuer: ISSUER, requiredClaims: ["sub", "jti", "exp"] });
		const id = Number(payload.sub);
		if (!Number.isSafeInteger(id) || id <= 0 || typeof payload.email !== "string" || typeof payload.is_admin !== "boolean" || typeof payload.jti !== "string") {
			return { ok: false, reason: "invalid", message: "Token claims are not those of a fleetmesh user" };
		}
		return { ok: true, claims: { id, email: payload.email, is_admin: payload.is_admin, jti: payload.jti, exp: payload.exp as number } };
	} catch (err) {
		return classifyJoseError(err);
	}
}

/** Turns jose's errors into a reason and a message a client can act on. */
export function classifyJoseError(err: unknown): Extract<TokenCheck, { ok: false }> {
	if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired", message: "Token has expired; log in again" };
	if (err instanceof joseErrors.JOSEAlgNotAllowed) return { ok: false, reason: "invalid", message: "Token algorithm is not accepted (only HS256)" };
	if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { ok: false, reason: "invalid", message: "Token signature is invalid" };
	if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: "invalid", message: `Token claim '${err.claim}' is invalid` };
	if (err instanceof joseErrors.JOSENotSupported) return { ok: false, reason: "invalid", message: "Token algorithm is not accepted (only HS256)" };
	return { ok: false, reason: "malformed", message: "Token is malformed" };
}
