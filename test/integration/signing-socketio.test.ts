/**
 * Socket.IO on the real gateway: the handshake token decides whether a connection exists;
 * a socket's calls are checked again, and a logout disconnects the sockets of that token.
 */
import { SignJWT, generateKeyPair } from "jose";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let db: TestDatabase;
let node: GatewayNode;
const sockets: Socket[] = [];

const outcomes = new WeakMap<Socket, Promise<string>>();

function open(auth?: Record<string, unknown>): Socket {
	const s = connect(node.url, { transports: ["websocket"], reconnection: false, auth, timeout: 5000 });
	sockets.push(s);
	// Listen from the start: a socket may connect before the test gets to ask.
	outcomes.set(
		s,
		new Promise(resolve => {
			s.once("connect", () => resolve("connected"));
			s.once("connect_error", err => resolve(`refused: ${err.message}`));
		})
	);
	return s;
}

/** Resolves "connected" or the connect_error message. */
function outcome(s: Socket): Promise<string> {
	return outcomes.get(s)!;
}

function call(s: Socket, action: string, params: unknown = {}): Promise<{ err: any; res: any }> {
	return new Promise(resolve => s.emit("call", action, params, (err: any, res: any) => resolve({ err, res })));
}

beforeAll(async () => {
	db = await createTestDatabase("signing_io");
	node = await startGatewayNode({ namespace: uniqueNamespace("signing-io"), env: { DATABASE_URL: db.url } });
	await api(node.url, "POST", "/api/users/add", { email: "sock@example.com", password: "silver-river-88" });
}, 60_000);

afterAll(async () => {
	for (const s of sockets) s.disconnect();
	await node?.stop();
	await db?.drop();
});

describe("Socket.IO handshake authentication", () => {
	it("refuses a connection without a token, with garbage, or with another key's token", async () => {
		expect(await outcome(open())).toMatch(/refused: A token is required/);
		expect(await outcome(open({ token: "garbage" }))).toMatch(/refused: Token is malformed/);
		const foreign =
			"eyJhbGciOiJIUzI1NiJ9." +
			Buffer.from(
				JSON.stringify({
					sub: "1",
					email: "x@example.com",
					is_admin: true,
					jti: "j",
					iss: "fleetmesh",
					exp: 9999999999
				})
			).toString("base64url") +
			".c2lnbmF0dXJlLW9mLWFub3RoZXIta2V5LWFub3RoZXIta2V5";
		// HS256 is not what signing makes (EdDSA): refused before its signature is even looked at.
		expect(await outcome(open({ token: foreign }))).toMatch(/refused: Token algorithm is not accepted/);
		const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
		const kid = ((await (await fetch(`${node.url}/api/certs/jwks`)).json()) as { keys: Array<{ kid: string }> })
			.keys[0].kid;
		const otherKey = await new SignJWT({ email: "x@example.com", is_admin: true, ver: 0 })
			.setProtectedHeader({ alg: "EdDSA", kid })
			.setSubject("1")
			.setIssuer("fleetmesh")
			.setJti("j")
			.setIssuedAt()
			.setExpirationTime("1h")
			.sign(privateKey);
		expect(await outcome(open({ token: otherKey }))).toMatch(/refused: Token signature is invalid/);
	});

	it("accepts a valid token, keeps the user on the socket, and checks calls", async () => {
		const token = await login(node.url, "sock@example.com", "silver-river-88");
		const s = open({ token });
		expect(await outcome(s)).toBe("connected");
		const nodes = await call(s, "gateway.nodes");
		expect(nodes.err).toBeNull();
		expect(Array.isArray(nodes.res.items)).toBe(true);
		// Not whitelisted for sockets: not found, whatever the user.
		const hidden = await call(s, "signing.list");
		expect(hidden.err).toMatchObject({ name: "ServiceNotFoundError" });
	});

	it("a logout disconnects that token's sockets and the token cannot reconnect", async () => {
		const token = await login(node.url, "sock@example.com", "silver-river-88");
		const other = await login(node.url, "sock@example.com", "silver-river-88");
		const s = open({ token });
		const keep = open({ token: other });
		expect(await outcome(s)).toBe("connected");
		expect(await outcome(keep)).toBe("connected");
		const gone = new Promise<string>(resolve => s.once("disconnect", reason => resolve(reason)));
		expect((await api(node.url, "POST", "/api/users/logout", {}, token)).status).toBe(200);
		expect(await gone).toBe("io server disconnect");
		expect(keep.connected).toBe(true);
		expect(await outcome(open({ token }))).toMatch(/refused: Token has been revoked/);
		// The other session is unaffected.
		expect((await call(keep, "gateway.nodes")).err).toBeNull();
	});

	it("an admin token connects as well (same check, no special path)", async () => {
		const admin = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
		const s = open({ token: `Bearer ${admin}` });
		expect(await outcome(s)).toBe("connected");
		await waitFor(() => s.connected, 2000, "admin socket");
	});
});
