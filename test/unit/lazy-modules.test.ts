/** Moleculer's node-fetch loads at its first call, then works as the real one (a real HTTP request on loopback). */
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import "../../bin/lazy-modules";

const fromMoleculer = path.dirname(require.resolve("moleculer"));
const file = require.resolve("node-fetch", { paths: [fromMoleculer] });
const server = http.createServer((req, res) => {
	let body = "";
	req.on("data", d => (body += d));
	req.on("end", () => res.end(JSON.stringify({ method: req.method, body })));
});
afterAll(() => new Promise(r => server.close(r)));

describe("deferred modules", () => {
	it("node-fetch is a stand-in until called, then the real module answers", async () => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- what Moleculer's modules get
		const standIn = require(file) as (url: string, init?: object) => Promise<{ json(): Promise<unknown> }>;
		// Not loaded: the cache holds the stand-in, and node-fetch's own whatwg-url is not loaded.
		expect(Object.keys(require.cache).some(f => f.includes("node-fetch/node_modules/whatwg-url"))).toBe(false);
		await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
		const { port } = server.address() as AddressInfo;
		const res = await standIn(`http://127.0.0.1:${port}/spans`, { method: "POST", body: "[1]" });
		expect(await res.json()).toEqual({ method: "POST", body: "[1]" });
		expect(Object.keys(require.cache).some(f => f.includes("node-fetch/node_modules/whatwg-url"))).toBe(true);
	});
});
