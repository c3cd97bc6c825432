/**
 * The shipped NATS and Mosquitto files encode the authenticated mesh: nats-server itself checks
 * both NATS files (`-t`, the cluster one with real certificates of our CA), and both require
 * credentials; Mosquitto's plain listener is loopback only.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createCA, issueCertificate } from "../../services/signing/ca";
import { tempDir } from "../helpers/broker";
import { ROOT } from "../helpers/node-process";

const read = (p: string) => fs.readFileSync(path.join(ROOT, p), "utf8");
const check = (file: string, env: Record<string, string>) =>
	spawnSync("/usr/sbin/nats-server", ["-c", file, "-t"], { env, encoding: "utf8" });

describe("shipped mesh configuration", () => {
	it("nats.conf is valid and requires a user and password", () => {
		const r = check(path.join(ROOT, "docker/nats/nats.conf"), { FLEETMESH_NATS_PASSWORD: "x" });
		expect(r.stderr + r.stdout).toMatch(/is valid/);
		expect(read("docker/nats/nats.conf")).toMatch(
			/authorization\s*\{\s*users = \[\s*\{ user: fleetmesh, password: \$FLEETMESH_NATS_PASSWORD \}/
		);
	});

	it("the documented password recipe starts with a letter: nats-server refuses 5e3… as a value", () => {
		// nats-server lexes an environment value that starts with a digit as a number
		// (nats-io/nats-server#5189), so the README and nats.conf make passwords with a letter first.
		const conf = path.join(ROOT, "docker/nats/nats.conf");
		expect(check(conf, { FLEETMESH_NATS_PASSWORD: "5e3abc" }).stderr).toMatch(/could not be parsed/);
		expect(check(conf, { FLEETMESH_NATS_PASSWORD: "fm5e3abc" }).stderr).toMatch(/is valid/);
		expect(read("README.md")).toContain("FLEETMESH_NATS_PASSWORD=fm$(openssl rand -hex 24)");
		expect(read("docker/nats/nats.conf")).toContain("fm$(openssl rand -hex 24)");
	});

	it("nats-cluster.conf is valid with TLS; authenticates clients (password), routes (certificates)", async () => {
		const dir = tempDir("nats-tls");
		const ca = await createCA("test CA");
		const server = await issueCertificate(ca, {
			commonName: "nats-1",
			usage: "server",
			dnsNames: ["nats-1", "nats-2", "nats-3"]
		});
		fs.writeFileSync(path.join(dir, "ca.crt"), ca.certPem);
		fs.writeFileSync(path.join(dir, "server.crt"), server.certPem);
		fs.writeFileSync(path.join(dir, "server.key"), server.keyPem, { mode: 0o600 });
		const conf = path.join(dir, "nats-cluster.conf");
		fs.writeFileSync(conf, read("docker/nats/nats-cluster.conf").replaceAll("/etc/nats/tls", dir));
		const r = check(conf, { SERVER_NAME: "nats-1", FLEETMESH_NATS_PASSWORD: "x" });
		expect(r.stderr + r.stdout).toMatch(/is valid/);
		const text = read("docker/nats/nats-cluster.conf");
		expect(text).toMatch(/^tls \{/m);
		// Routes authenticate each other by certificates of the same CA.
		expect(text).toMatch(/cluster \{[\s\S]*tls \{[\s\S]*verify: true/);
	});

	it("Mosquitto's plain internal listener binds 127.0.0.1; controllers need a client certificate", () => {
		const text = read("docker/mosquitto/mosquitto.conf");
		expect(text).toMatch(/^listener 1883 127\.0\.0\.1$/m);
		expect(text).toMatch(/^require_certificate true$/m);
		expect(text).not.toMatch(/^listener 1883\s*$/m);
	});

	it("compose and k8s give every node the mesh credentials", () => {
		expect(read("docker/compose.yml")).toMatch(/TRANSPORTER: nats:\/\/fleetmesh:\$\{FLEETMESH_NATS_PASSWORD/);
		expect(read("docker/k8s/fleetmesh.yaml")).toMatch(/TRANSPORTER: nats:\/\/fleetmesh:/);
		expect(read("docker/k8s/fleetmesh.yaml")).not.toMatch(/TRANSPORTER: nats:\/\/nats:4222/);
	});
});
