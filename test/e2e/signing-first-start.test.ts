/**
 * A node started as `npm start` starts it (own process, embedded PGlite, no signing key given, no
 * ADMIN_PASSWORD): the first start creates the admin with a generated password printed once,
 * keeps the JWT key and the CA in DATA_DIR with mode 600; a restart reuses them, tokens issued
 * before stay valid, a logout before the restart stays in force, and no log line carries a hash.
 */
import { createKeyAndCsr } from "../../services/shared/csr";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/broker";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const nodes: NodeProcess[] = [];
afterAll(async () => {
	await Promise.all(nodes.map(n => n.kill("SIGTERM")));
});

async function post(url: string, body: unknown, token?: string) {
	const res = await fetch(url, {
		method: "POST",
		headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
		body: JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json()) as any };
}

async function start(dataDir: string, port: number): Promise<NodeProcess> {
	const node = startNode({
		SERVICES: [
			path.join(ROOT, "services/gateway/gateway.service.ts"),
			path.join(ROOT, "services/signing/signing.service.ts")
		].join(","),
		DATA_DIR: dataDir,
		PORT: String(port),
		NODEID: `signing-e2e-${port}`,
		SIMULATE: "0",
		// The most talkative level: even here no password or hash may reach the log.
		LOGLEVEL: "debug"
	});
	nodes.push(node);
	await waitFor(
		async () => (await fetch(`http://127.0.0.1:${port}/api/certs/ca`)).status === 200,
		40_000,
		`node on ${port}:\n${node.output().slice(-2000)}`
	);
	return node;
}

describe("signing on first start and restart (own process, PGlite)", () => {
	it("prints the generated admin password once, keeps keys with mode 600, survives a restart", async () => {
		const dataDir = tempDir("signing-e2e");
		const port = await freePort();
		const base = `http://127.0.0.1:${port}`;
		const first = await start(dataDir, port);
		// The password is in the start-up summary at the end of the output, and in a 0600 file.
		const m = await first.waitForOutput(
			new RegExp(
				String.raw`start-up summary: .*created administrator (\S+) with the generated password (\S+) ` +
					String.raw`\(kept in (\S+), mode 0600\)`
			),
			10_000
		);
		const [, email, password, file] = m;
		expect(email).toBe("admin@fleetmesh.local");
		expect(file).toBe(path.join(dataDir, "admin-password.txt"));
		expect(fs.statSync(file).mode & 0o777).toBe(0o600);
		expect(fs.readFileSync(file, "utf8")).toContain(`password: ${password}`);

		const auth = await post(`${base}/api/users/auth`, { email, password });
		expect(auth.status).toBe(200);
		const token = auth.body.access_token as string;
		const listed = await fetch(`${base}/api/users`, { headers: { Authorization: `Bearer ${token}` } });
		expect(listed.status).toBe(200);
		const doomed = (await post(`${base}/api/users/auth`, { email, password })).body.access_token as string;
		expect((await post(`${base}/api/users/logout`, {}, doomed)).status).toBe(200);
		const cert = await post(
			`${base}/api/certs/devices`,
			{ mac: "aa:bb:cc:dd:ee:02", csr: (await createKeyAndCsr("f2-aabbccddee02")).csrPem },
			token
		);
		expect(cert.status).toBe(200);

		for (const f of ["jwt-keys.json", "certs/ca.key"])
			expect(fs.statSync(path.join(dataDir, f)).mode & 0o777, f).toBe(0o600);
		const caBefore = fs.readFileSync(path.join(dataDir, "certs/ca.crt"), "utf8");

		expect(await first.kill("SIGTERM")).toBe(0);
		const second = await start(dataDir, port);
		// Later starts name the administrator and the file, not the password.
		await second.waitForOutput(
			/start-up summary: .*sign in as admin@fleetmesh.local \(password: see .*admin-password.txt\)/,
			10_000
		);
		expect(second.output()).not.toMatch(/generated password/);
		expect(fs.readFileSync(path.join(dataDir, "certs/ca.crt"), "utf8")).toBe(caBefore);
		expect((await fetch(`${base}/api/users/me`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(
			200
		);
		const stillRevoked = await fetch(`${base}/api/users/me`, { headers: { Authorization: `Bearer ${doomed}` } });
		expect(stillRevoked.status).toBe(401);
		expect(((await stillRevoked.json()) as any).type).toBe("TOKEN_REVOKED");
		expect((await post(`${base}/api/users/auth`, { email, password })).status).toBe(200);

		// The password appears exactly once across both runs (debug level included: the summary line); no Argon2 hash
		// ever does.
		const all = first.output() + second.output();
		expect(all.split(password).length - 1).toBe(1);
		expect(all).not.toMatch(/\$argon2/);
	}, 120_000);

	it("a weak ADMIN_PASSWORD stops the first start with one line naming the variable and the rule", async () => {
		const node = startNode({
			SERVICES: [
				path.join(ROOT, "services/gateway/gateway.service.ts"),
				path.join(ROOT, "services/signing/signing.service.ts")
			].join(","),
			DATA_DIR: tempDir("signing-e2e-weak"),
			PORT: String(await freePort()),
			NODEID: "signing-e2e-weak",
			SIMULATE: "0",
			ADMIN_PASSWORD: "admin"
		});
		nodes.push(node);
		expect(await node.exited).toBe(1);
		expect(node.output()).toMatch(
			/fleetmesh: cannot start: ADMIN_PASSWORD: password must be at least 10 characters long/
		);
		expect(node.output()).not.toMatch(/\n\s+at /);
	}, 60_000);
});
