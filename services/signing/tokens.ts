/**
 * Access tokens: EdDSA (Ed25519) JWTs signed here, and nowhere else.
 *
 * The private keys stay in this service: DATA_DIR/jwt-keys.json (mode 600, created once), or
 * one key given as PKCS#8 PEM in JWT_PRIVATE_KEY (several signing nodes share it that way).
 * Every other node verifies with the public keys (a JWKS; `kid` picks the key). Rotation adds a
 * new current key and keeps the previous public keys until every token they signed has expired.
 * Verification is services/shared/tokens.ts (the one verifier).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
	SignJWT,
	calculateJwkThumbprint,
	exportJWK,
	generateKeyPair,
	importJWK,
	importPKCS8,
	type JSONWebKeySet,
	type JWK
} from "jose";
import { JWT_ALGORITHM, JWT_ISSUER } from "../shared/contracts/tokens";
import { ConfigError } from "../shared/env";
import { writePrivateFile } from "../shared/files";
import { errorMessage } from "../shared/error-message";

const KEY_FILE = "jwt-keys.json";

export interface TokenUser {
	id: number;
	email: string;
	is_admin: boolean;
	/** The user's session version (t_users.token_version). */
	token_version: number;
}

interface StoredKey {
	kid: string;
	created_at: string;
	/** Set once a newer key took over: kept for verification until its tokens have expired. */
	retired_at?: string;
	private_jwk: JWK;
}

interface KeyFile {
	keys: StoredKey[];
}

export interface KeyRing {
	kid: string;
	privateKey: CryptoKey | Uint8Array | import("node:crypto").KeyObject;
	/** Public keys only: what `signing.jwks` answers. */
	jwks: JSONWebKeySet;
	/** Where the keys came from: "file" (rotatable) or "env" (JWT_PRIVATE_KEY). */
	source: "file" | "env";
}

function publicOf(jwk: JWK, kid: string): JWK {
	return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: JWT_ALGORITHM, use: "sig" };
}

async function newStoredKey(): Promise<StoredKey> {
	const { privateKey } = await generateKeyPair(JWT_ALGORITHM, { crv: "Ed25519", extractable: true });
	const jwk = await exportJWK(privateKey);
	const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! });
	return { kid, created_at: new Date().toISOString(), private_jwk: jwk };
}

async function ringFromFile(file: KeyFile): Promise<KeyRing> {
	const current = file.keys.find(k => !k.retired_at) ?? file.keys[file.keys.length - 1];
	if (!current) throw new Error(`${KEY_FILE} holds no key`);
	return {
		kid: current.kid,
		privateKey: await importJWK(current.private_jwk, JWT_ALGORITHM),
		jwks: { keys: file.keys.map(k => publicOf(k.private_jwk, k.kid)) },
		source: "file"
	};
}

function readKeyFile(file: string): KeyFile {
	const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as KeyFile;
	if (!Array.isArray(parsed.keys) || parsed.keys.length === 0)
		throw new Error(`${file} holds no key; delete it to generate one (every token becomes invalid)`);
	return parsed;
}

/** The signing keys: JWT_PRIVATE_KEY (PKCS#8 PEM, Ed25519), or DATA_DIR/jwt-keys.json generated once. */
export async function loadOrCreateKeys(dataDir: string, privateKeyPem: string | null): Promise<KeyRing> {
	if (privateKeyPem != null) {
		let key: CryptoKey;
		try {
			key = (await importPKCS8(privateKeyPem.replace(/\\n/g, "\n"), JWT_ALGORITHM, {
				extractable: true
			})) as CryptoKey;
		} catch (err) {
			throw new ConfigError(
				"JWT_PRIVATE_KEY",
				`not an Ed25519 PKCS#8 PEM private key (openssl genpkey -algorithm ed25519): ${errorMessage(err)}`
			);
		}
		const jwk = await exportJWK(key);
		const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! });
		return { kid, privateKey: key, jwks: { keys: [publicOf(jwk, kid)] }, source: "env" };
	}
	const file = path.join(dataDir, KEY_FILE);
	if (!fs.existsSync(file)) {
		const first: KeyFile = { keys: [await newStoredKey()] };
		try {
			writePrivateFile(file, JSON.stringify(first, null, 1) + "\n", { exclusive: true });
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
		}
	}
	if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
	return ringFromFile(readKeyFile(file));
}

/**
 * A new current key; the previous ones stay (public part in the JWKS) for `keepSeconds`, long
 * enough for every token they signed to expire, then are dropped at the next rotation.
 */
export async function rotateKeys(dataDir: string, keepSeconds: number): Promise<KeyRing> {
	const file = path.join(dataDir, KEY_FILE);
	const stored = readKeyFile(file);
	const now = Date.now();
	for (const k of stored.keys) k.retired_at ??= new Date(now).toISOString();
	stored.keys = stored.keys.filter(k => now - Date.parse(k.retired_at!) < keepSeconds * 1000);
	stored.keys.push(await newStoredKey());
	writePrivateFile(file, JSON.stringify(stored, null, 1) + "\n");
	return ringFromFile(stored);
}

/** Reads the key file again (another signing process on the same DATA_DIR rotated). */
export async function reloadKeys(dataDir: string, current: KeyRing): Promise<KeyRing> {
	if (current.source === "env") return current;
	return ringFromFile(readKeyFile(path.join(dataDir, KEY_FILE)));
}

export async function issueToken(
	ring: KeyRing,
	user: TokenUser,
	ttlSeconds: number
): Promise<{ token: string; jti: string; exp: number }> {
	const now = Math.floor(Date.now() / 1000);
	const exp = now + ttlSeconds;
	const jti = crypto.randomUUID();
	const token = await new SignJWT({ email: user.email, is_admin: user.is_admin, ver: user.token_version })
		.setProtectedHeader({ alg: JWT_ALGORITHM, typ: "JWT", kid: ring.kid })
		.setSubject(String(user.id))
		.setIssuer(JWT_ISSUER)
		.setJti(jti)
		.setIssuedAt(now)
		.setExpirationTime(exp)
		.sign(ring.privateKey as CryptoKey);
	return { token, jti, exp };
}
