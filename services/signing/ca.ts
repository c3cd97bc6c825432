/**
 * Device identity: a small X.509 certificate authority (ECDSA P-256).
 *
 * Everything ASN.1 is done by @peculiar/x509 on top of Node's WebCrypto; this
 * module only decides which extensions a CA, a device (client) and a broker
 * (server) certificate carry, and where the CA lives.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import "reflect-metadata";
import { webcrypto, createPrivateKey, randomBytes, X509Certificate as NodeX509 } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { errorMessage } from "../shared/error-message";

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates are dated a little in the past so a device whose clock lags a few minutes still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface CertificateAuthority {
	certPem: string;
	keyPem: string;
}

export interface IssuedCertificate {
	certPem: string;
	keyPem: string;
	commonName: string;
	serialNumber: string;
	notAfter: string;
}

export interface IssueOptions {
	commonName: string;
	usage: "client" | "server";
	dnsNames?: string[];
	ipAddresses?: string[];
	days?: number;
}

/** A positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit cleared keeps it positive). */
function randomSerial(): string {
	const b = randomBytes(16);
	b[0] = b[0] & 0x7f;
	if (b[0] === 0) b[0] = 0x01;
	return b.toString("hex");
}

/** The DN string form of @peculiar/x509 treats ',', '+', '=' … specially; names here never need them. */
function checkCommonName(cn: string): string {
	if (typeof cn !== "string" || cn.length === 0 || cn.length > 64) {
		throw new Error("commonName must be 1..64 characters");
	}
	if (!/^[A-Za-z0-9][A-Za-z0-9 ._:@-]*$/.test(cn)) {
		throw new Error(`commonName '${cn}' may contain only letters, digits, space and . _ : @ -`);
	}
	return cn;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
	const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key));
	return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Accepts PKCS#8 ("PRIVATE KEY") and SEC1 ("EC PRIVATE KEY", the openssl default) PEM. */
async function importKeyPem(pem: string): Promise<{ privateKey: CryptoKey }> {
	let der: Buffer;
	try {
		der = createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
	} catch (err) {
		throw new Error(`CA key is not a readable PEM private key: ${errorMessage(err)}`);
	}
	try {
		const privateKey = await crypto.subtle.importKey("pkcs8", new Uint8Array(der), EC_ALG, true, ["sign"]);
		return { privateKey };
	} catch {
		throw new Error("CA key must be an ECDSA P-256 private key");
	}
}

export async function createCA(commonName = "fleetmesh device CA"): Promise<CertificateAuthority> {
	checkCommonName(commonName);
	const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
	const now = Date.now();
	const cert = await x509.X509CertificateGenerator.createSelfSigned({
		serialNumber: randomSerial(),
		name: [{ CN: [commonName] }, { O: ["fleetmesh"] }],
		notBefore: new Date(now - BACKDATE_MS),
		notAfter: new Date(now + 10 * 365 * DAY_MS),
		signingAlgorithm: SIGN_ALG,
		keys,
		extensions: [
			new x509.BasicConstraintsExtension(true, 0, true),
			new x509.KeyUsagesExtension(
				x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
				true
			),
			await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
		]
	});
	return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Checks that a PEM pair is a usable CA: parses, is a CA, and the key matches the certificate. */
function checkCaPair(ca: CertificateAuthority, source: string): void {
	let cert: NodeX509;
	try {
		cert = new NodeX509(ca.certPem);
	} catch (err) {
		throw new Error(`${source}: CA certificate is not a readable PEM certificate: ${errorMessage(err)}`);
	}
	if (!cert.ca)
		throw new Error(`${source}: the certificate is not a CA certificate (basicConstraints CA:TRUE missing)`);
	let key;
	try {
		key = createPrivateKey(ca.keyPem);
	} catch (err) {
		throw new Error(`${source}: CA key is not a readable PEM private key: ${errorMessage(err)}`);
	}
	if (!cert.checkPrivateKey(key)) throw new Error(`${source}: the CA key does not belong to the CA certificate`);
}

/** CA kept in dir/ca.crt + dir/ca.key (key mode 600), created once; or from env FLEET_CA_CERT/FLEET_CA_KEY (PEM). */
export async function loadOrCreateCA(
	dir: string,
	env: Record<string, string | undefined> = process.env
): Promise<CertificateAuthority> {
	const envCert = env.FLEET_CA_CERT?.trim();
	const envKey = env.FLEET_CA_KEY?.trim();
	if (envCert || envKey) {
		if (!envCert || !envKey) throw new Error("FLEET_CA_CERT and FLEET_CA_KEY must be set together");
		const ca = { certPem: envCert.replace(/\\n/g, "\n") + "\n", keyPem: envKey.replace(/\\n/g, "\n") + "\n" };
		checkCaPair(ca, "FLEET_CA_CERT/FLEET_CA_KEY");
		return ca;
	}
	const certPath = path.join(dir, "ca.crt");
	const keyPath = path.join(dir, "ca.key");
	if (fs.existsSync(certPath) || fs.existsSync(keyPath)) {
		const ca = { certPem: fs.readFileSync(certPath, "utf8"), keyPem: fs.readFileSync(keyPath, "utf8") };
		checkCaPair(ca, dir);
		return ca;
	}
	fs.mkdirSync(dir, { recursive: true });
	const ca = await createCA();
	// Key first with O_EXCL: two nodes starting at once on one DATA_DIR must not both create a CA.
	try {
		fs.writeFileSync(keyPath, ca.keyPem, { mode: 0o600, flag: "wx" });
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
		// Another process won the race; wait for its certificate.
		for (let i = 0; i < 50 && !fs.existsSync(certPath); i++) await new Promise(r => setTimeout(r, 100));
		const other = { certPem: fs.readFileSync(certPath, "utf8"), keyPem: fs.readFileSync(keyPath, "utf8") };
		checkCaPair(other, dir);
		return other;
	}
	fs.chmodSync(keyPath, 0o600);
	const tmp = `${certPath}.${process.pid}.tmp`;
	fs.writeFileSync(tmp, ca.certPem, { mode: 0o644 });
	fs.renameSync(tmp, certPath);
	return ca;
}

/** Issues a certificate with a new key pair made here (tests and tools; the service issues from CSRs only). */
export async function issueCertificate(ca: CertificateAuthority, opts: IssueOptions): Promise<IssuedCertificate> {
	const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
	const signed = await signPublicKey(ca, keys.publicKey, opts);
	return { ...signed, keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Issues a certificate for the key pair of a PKCS#10 request: the requester keeps its private
 * key, only the public key and a proof of possession (the request's signature) arrive here.
 * The names in the certificate are the CA's choice (opts), not the request's.
 */
export async function issueFromCsr(
	ca: CertificateAuthority,
	csrPem: string,
	opts: IssueOptions
): Promise<Omit<IssuedCertificate, "keyPem">> {
	let csr: x509.Pkcs10CertificateRequest;
	try {
		csr = new x509.Pkcs10CertificateRequest(csrPem);
	} catch {
		throw new Error("not a PEM certificate signing request (PKCS#10)");
	}
	if (!(await csr.verify())) throw new Error("the request's signature does not match its public key");
	const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
	if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw new Error("the request's key must be ECDSA P-256");
	return signPublicKey(ca, await csr.publicKey.export(EC_ALG, ["verify"], crypto), opts);
}

/** The certificate's names, usage and lifetime, checked before anything is signed (a clear message each). */
function checkIssueOptions(opts: IssueOptions) {
	const commonName = checkCommonName(opts.commonName);
	if (opts.usage !== "client" && opts.usage !== "server") throw new Error("usage must be 'client' or 'server'");
	const days = opts.days ?? 365;
	if (!Number.isInteger(days) || days < 1 || days > 3650) throw new Error("days must be a whole number 1..3650");
	const dnsNames = opts.dnsNames ?? [];
	const ipAddresses = opts.ipAddresses ?? [];
	for (const d of dnsNames) {
		// Underscores are not RFC 1123 but occur in container and LAN hostnames; TLS stacks accept them in SANs.
		if (
			d.length > 253 ||
			!/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$/.test(d)
		)
			throw new Error(`'${d}' is not a DNS name`);
	}
	for (const ip of ipAddresses) {
		if (!net.isIP(ip)) throw new Error(`'${ip}' is not an IP address`);
	}
	return { commonName, days, dnsNames, ipAddresses };
}

async function signPublicKey(
	ca: CertificateAuthority,
	publicKey: CryptoKey,
	opts: IssueOptions
): Promise<Omit<IssuedCertificate, "keyPem">> {
	const { commonName, days, dnsNames, ipAddresses } = checkIssueOptions(opts);
	const caCert = new x509.X509Certificate(ca.certPem);
	const { privateKey: caKey } = await importKeyPem(ca.keyPem);
	const now = Date.now();
	const notAfter = new Date(now + days * DAY_MS);
	const serialNumber = randomSerial();

	const extensions: x509.Extension[] = [
		new x509.BasicConstraintsExtension(false, undefined, true),
		new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
		new x509.ExtendedKeyUsageExtension(
			[opts.usage === "client" ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth],
			false
		),
		await x509.SubjectKeyIdentifierExtension.create(publicKey),
		await x509.AuthorityKeyIdentifierExtension.create(caCert, false)
	];
	const san = [
		...dnsNames.map(value => ({ type: "dns" as const, value })),
		...ipAddresses.map(value => ({ type: "ip" as const, value }))
	];
	if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));

	const cert = await x509.X509CertificateGenerator.create({
		serialNumber,
		subject: [{ CN: [commonName] }, { O: ["fleetmesh"] }],
		issuer: caCert.subject,
		notBefore: new Date(now - BACKDATE_MS),
		notAfter,
		signingAlgorithm: SIGN_ALG,
		publicKey,
		signingKey: caKey,
		extensions
	});
	return {
		certPem: cert.toString("pem"),
		commonName,
		serialNumber,
		notAfter: notAfter.toISOString()
	};
}

/** True when certPem was signed by the CA of caCertPem, names the CA as issuer and is valid now. */
export async function verifyCertificate(certPem: string, caCertPem: string): Promise<boolean> {
	let cert: x509.X509Certificate;
	let caCert: x509.X509Certificate;
	try {
		cert = new x509.X509Certificate(certPem);
		caCert = new x509.X509Certificate(caCertPem);
	} catch {
		return false;
	}
	if (cert.issuer !== caCert.subject) return false;
	const now = new Date();
	if (now < cert.notBefore || now > cert.notAfter) return false;
	if (now < caCert.notBefore || now > caCert.notAfter) return false;
	try {
		return await cert.verify({ publicKey: caCert, signatureOnly: true });
	} catch {
		return false;
	}
}

/** "aa:bb:cc:dd:ee:01" → "f2-aabbccddee01"; throws on a malformed MAC. */
export function deviceCommonName(mac: string): string {
	if (typeof mac !== "string") throw new Error("MAC address must be a string");
	const m = mac.trim().toLowerCase();
	if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/.test(m) && !/^[0-9a-f]{12}$/.test(m)) {
		throw new Error(`'${mac}' is not a MAC address (expected aa:bb:cc:dd:ee:01)`);
	}
	return `f2-${m.replace(/[:-]/g, "")}`;
}
