/**
 * The device CA: certificates are checked by independent verifiers (Node's X509Certificate,
 * the openssl CLI) and by a real mutual-TLS handshake, not only by the module that made them.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import {
	createCA,
	deviceCommonName,
	issueCertificate,
	loadOrCreateCA,
	verifyCertificate
} from "../../services/signing/ca";
import { tempDir } from "../helpers/broker";

describe("signing CA", () => {
	it("deviceCommonName normalises a MAC and refuses malformed ones", () => {
		expect(deviceCommonName("aa:bb:cc:dd:ee:01")).toBe("f2-aabbccddee01");
		expect(deviceCommonName("AA-BB-CC-DD-EE-0F")).toBe("f2-aabbccddee0f");
		expect(deviceCommonName("aabbccddee01")).toBe("f2-aabbccddee01");
		for (const bad of [
			"",
			"aa:bb:cc:dd:ee",
			"aa:bb:cc:dd:ee:0g",
			"aa:bb-cc:dd:ee:01",
			"aa:bb:cc:dd:ee:01:02",
			"'; drop table t_users; --"
		]) {
			expect(() => deviceCommonName(bad), bad).toThrow(/not a MAC address/);
		}
	});

	it("a client certificate for one MAC validates against its CA and not against another CA", async () => {
		const ca = await createCA("test CA");
		const other = await createCA("other CA");
		const issued = await issueCertificate(ca, {
			commonName: deviceCommonName("aa:bb:cc:dd:ee:01"),
			usage: "client"
		});
		expect(issued.commonName).toBe("f2-aabbccddee01");
		expect(await verifyCertificate(issued.certPem, ca.certPem)).toBe(true);
		expect(await verifyCertificate(issued.certPem, other.certPem)).toBe(false);
		// A certificate signed by the other CA but pretending to come from ours (same issuer name) fails too.
		const forged = await issueCertificate(
			{ certPem: ca.certPem, keyPem: other.keyPem },
			{ commonName: "f2-aabbccddee01", usage: "client" }
		);
		expect(await verifyCertificate(forged.certPem, ca.certPem)).toBe(false);
		expect(await verifyCertificate("garbage", ca.certPem)).toBe(false);

		// Independent check with Node's X509 parser.
		const node = new X509Certificate(issued.certPem);
		expect(node.subject).toContain("CN=f2-aabbccddee01");
		expect(node.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
		expect(node.verify(new X509Certificate(other.certPem).publicKey)).toBe(false);
		expect(node.serialNumber.toLowerCase().replace(/^0+/, "")).toBe(issued.serialNumber.replace(/^0+/, ""));
		expect(new Date(issued.notAfter).getTime()).toBeGreaterThan(Date.now() + 364 * 86400_000);
		expect(node.keyUsage ?? []).toContain("1.3.6.1.5.5.7.3.2");
	});

	it("openssl verifies the chain with the right purpose", async () => {
		const dir = tempDir("ca-openssl");
		const ca = await createCA();
		const client = await issueCertificate(ca, { commonName: "f2-aabbccddee02", usage: "client" });
		const server = await issueCertificate(ca, {
			commonName: "broker",
			usage: "server",
			dnsNames: ["localhost"],
			ipAddresses: ["127.0.0.1"]
		});
		fs.writeFileSync(path.join(dir, "ca.pem"), ca.certPem);
		fs.writeFileSync(path.join(dir, "client.pem"), client.certPem);
		fs.writeFileSync(path.join(dir, "server.pem"), server.certPem);
		const verify = (file: string, purpose: string) =>
			execFileSync(
				"openssl",
				["verify", "-purpose", purpose, "-CAfile", path.join(dir, "ca.pem"), path.join(dir, file)],
				{ encoding: "utf8" }
			);
		expect(verify("client.pem", "sslclient")).toContain("OK");
		expect(verify("server.pem", "sslserver")).toContain("OK");
		// A client certificate cannot serve as a TLS server.
		expect(() => verify("client.pem", "sslserver")).toThrow();
	});

	it("a real mutual-TLS handshake accepts the device and reads its CN; a foreign CA's client is not", async () => {
		const ca = await createCA();
		const other = await createCA();
		const server = await issueCertificate(ca, {
			commonName: "broker",
			usage: "server",
			dnsNames: ["localhost"],
			ipAddresses: ["127.0.0.1"]
		});
		const device = await issueCertificate(ca, {
			commonName: deviceCommonName("aa:bb:cc:dd:ee:03"),
			usage: "client"
		});
		const intruder = await issueCertificate(other, {
			commonName: deviceCommonName("aa:bb:cc:dd:ee:03"),
			usage: "client"
		});
		const seen: string[] = [];
		const srv = tls.createServer(
			{ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
			s => {
				seen.push(String(s.getPeerCertificate().subject.CN));
				s.end("hello");
			}
		);
		await new Promise<void>(r => srv.listen(0, "127.0.0.1", () => r()));
		const port = (srv.address() as { port: number }).port;
		const connect = (cert: string, key: string) =>
			new Promise<string>(resolve => {
				const c = tls.connect(
					{ host: "127.0.0.1", port, servername: "localhost", cert, key, ca: ca.certPem },
					() => undefined
				);
				let data = "";
				c.on("data", d => (data += d));
				c.on("end", () => resolve(data));
				// Under TLS 1.3 the client learns of a refused certificate after its own handshake ends: an alert or a
				// close.
				c.on("error", err => resolve(`refused: ${err.message}`));
			});
		try {
			expect(await connect(device.certPem, device.keyPem)).toBe("hello");
			expect(seen).toEqual(["f2-aabbccddee03"]);
			expect(await connect(intruder.certPem, intruder.keyPem)).not.toBe("hello");
			expect(seen).toEqual(["f2-aabbccddee03"]);
		} finally {
			srv.close();
		}
	});

	it("loadOrCreateCA creates the CA once with a 600 key and reuses it", async () => {
		const dir = path.join(tempDir("ca-dir"), "certs");
		const first = await loadOrCreateCA(dir, {});
		expect(fs.statSync(path.join(dir, "ca.key")).mode & 0o777).toBe(0o600);
		const second = await loadOrCreateCA(dir, {});
		expect(second.certPem).toBe(first.certPem);
		// Two nodes starting together on one directory end with one CA.
		const dir2 = path.join(tempDir("ca-race"), "certs");
		const [a, b] = await Promise.all([loadOrCreateCA(dir2, {}), loadOrCreateCA(dir2, {})]);
		expect(a.certPem).toBe(b.certPem);
	});

	it("loadOrCreateCA takes the CA from FLEET_CA_CERT/FLEET_CA_KEY and refuses a mismatched pair", async () => {
		const ca = await createCA();
		const other = await createCA();
		const dir = tempDir("ca-env");
		const loaded = await loadOrCreateCA(dir, { FLEET_CA_CERT: ca.certPem, FLEET_CA_KEY: ca.keyPem });
		expect(loaded.certPem.trim()).toBe(ca.certPem.trim());
		expect(fs.existsSync(path.join(dir, "ca.key"))).toBe(false);
		await expect(loadOrCreateCA(dir, { FLEET_CA_CERT: ca.certPem, FLEET_CA_KEY: other.keyPem })).rejects.toThrow(
			/does not belong/
		);
		await expect(loadOrCreateCA(dir, { FLEET_CA_CERT: ca.certPem })).rejects.toThrow(/set together/);
		// An openssl-made SEC1 key and CA are accepted.
		const od = tempDir("ca-openssl-env");
		execFileSync(
			"openssl",
			[
				"req",
				"-x509",
				"-newkey",
				"ec",
				"-pkeyopt",
				"ec_paramgen_curve:P-256",
				"-nodes",
				"-keyout",
				path.join(od, "k.pem"),
				"-out",
				path.join(od, "c.pem"),
				"-days",
				"30",
				"-subj",
				"/CN=ext CA",
				"-addext",
				"basicConstraints=critical,CA:TRUE"
			],
			{ stdio: "ignore" }
		);
		const ext = await loadOrCreateCA(od + "/x", {
			FLEET_CA_CERT: fs.readFileSync(path.join(od, "c.pem"), "utf8"),
			FLEET_CA_KEY: fs.readFileSync(path.join(od, "k.pem"), "utf8")
		});
		const leaf = await issueCertificate(ext, { commonName: "f2-aabbccddee04", usage: "client" });
		expect(await verifyCertificate(leaf.certPem, ext.certPem)).toBe(true);
	});

	it("refuses bad issue options with a clear message", async () => {
		const ca = await createCA();
		await expect(issueCertificate(ca, { commonName: "a,CN=evil", usage: "client" })).rejects.toThrow(/commonName/);
		await expect(issueCertificate(ca, { commonName: "x".repeat(65), usage: "client" })).rejects.toThrow(
			/commonName/
		);
		await expect(
			issueCertificate(ca, { commonName: "b", usage: "server", ipAddresses: ["1.2.3"] })
		).rejects.toThrow(/IP address/);
		await expect(
			issueCertificate(ca, { commonName: "b", usage: "server", dnsNames: ["bad name"] })
		).rejects.toThrow(/DNS name/);
		await expect(issueCertificate(ca, { commonName: "b", usage: "client", days: 0 })).rejects.toThrow(/days/);
	});
});
