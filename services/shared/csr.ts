/**
 * A key pair and its certificate signing request (PKCS#10), made where the key will be used:
 * the private key never leaves this process; signing sees only the request.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;

export async function createKeyAndCsr(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
	const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
	const csr = await x509.Pkcs10CertificateRequestGenerator.create({
		name: `CN=${commonName}`,
		keys,
		signingAlgorithm: { name: "ECDSA", hash: "SHA-256" }
	});
	const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
	const keyPem = `-----BEGIN PRIVATE KEY-----\n${der
		.toString("base64")
		.replace(/(.{64})/g, "$1\n")
		.replace(/\n$/, "")}\n-----END PRIVATE KEY-----\n`;
	return { keyPem, csrPem: csr.toString("pem") };
}
