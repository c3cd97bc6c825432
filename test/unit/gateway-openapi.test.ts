/** fastest-validator params → JSON Schema, and aliases → OpenAPI operations (services/gateway/openapi.ts). */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { buildOpenApi, fvToJsonSchema, objectSchema, openApiPath } from "../../services/gateway/openapi";
import { DeviceRecord } from "../../services/shared/contracts/api";
import { pageOf } from "../../services/shared/lists";

describe("OpenAPI generation", () => {
	it("turns fastest-validator rules into JSON Schema that accepts and refuses the same values", () => {
		const params = {
			id: { type: "number", integer: true, positive: true, convert: true },
			name: { type: "string", min: 1, max: 20 },
			kind: { type: "enum", values: ["a", "b"], optional: true },
			tags: { type: "array", items: "string", max: 3, optional: true },
			owner: { type: "number", integer: true, nullable: true, optional: true },
			when: [
				{ type: "number", optional: true },
				{ type: "string", max: 10, optional: true }
			],
			mac: { type: "string", pattern: /^[0-9a-f]{12}$/, optional: true },
			$$strict: true
		};
		const schema = objectSchema(params as never);
		expect(schema.required).toEqual(["id", "name"]);
		expect(schema.additionalProperties).toBe(false);
		const validate = new Ajv2020({ strict: false }).compile(schema);
		expect(
			validate({ id: 3, name: "x", kind: "a", tags: ["t"], owner: null, when: "now", mac: "aabbccddeeff" })
		).toBe(true);
		for (const bad of [
			{ id: 0, name: "x" },
			{ id: 1.5, name: "x" },
			{ id: 1, name: "" },
			{ id: 1, name: "x", kind: "c" },
			{ id: 1, name: "x", tags: ["a", "b", "c", "d"] },
			{ id: 1, name: "x", extra: 1 },
			{ id: 1, name: "x", mac: "zz" }
		]) {
			expect(validate(bad), JSON.stringify(bad)).toBe(false);
		}
		expect(fvToJsonSchema("string|min:3|optional")).toEqual({ type: "string", minLength: 3 });
		expect(fvToJsonSchema({ type: "email" })).toEqual({ type: "string", format: "email" });
	});

	it("maps routes: path parameters, query for GET, body for POST, 201 for creates, public routes", () => {
		expect(openApiPath("/api/devices/:id/status")).toEqual({ path: "/api/devices/{id}/status", names: ["id"] });
		expect(openApiPath("/store/:path*")).toEqual({ path: "/store/{path}", names: ["path"] });
		const doc = buildOpenApi(
			[
				{
					actionName: "manager.get",
					fullPath: "/api/devices/:id",
					methods: "GET",
					action: {
						params: {
							id: { type: "number", integer: true, convert: true },
							verbose: { type: "boolean", optional: true }
						}
					}
				},
				{
					actionName: "manager.create",
					fullPath: "/api/devices",
					methods: "POST",
					action: { params: { name: { type: "string" } } }
				},
				{
					actionName: "signing.auth",
					fullPath: "/api/users/auth",
					methods: "POST",
					action: { auth: "public", params: {} }
				},
				{
					actionName: "gateway.listAliases",
					fullPath: "/api/list-aliases",
					methods: "GET",
					action: { visibility: "protected" }
				}
			],
			{ title: "t", version: "1" }
		) as any;
		const get = doc.paths["/api/devices/{id}"].get;
		expect(get.parameters).toEqual([
			{ name: "id", in: "path", required: true, schema: { type: "integer" } },
			{ name: "verbose", in: "query", required: false, schema: { type: "boolean" } }
		]);
		const create = doc.paths["/api/devices"].post;
		expect(create.requestBody.content["application/json"].schema.required).toEqual(["name"]);
		expect(Object.keys(create.responses)).toContain("201");
		expect(doc.paths["/api/users/auth"].post.security).toEqual([]);
		expect(doc.paths["/api/list-aliases"]).toBeUndefined();
	});

	it("publishes an action's answer schema: lists around the item, 201 for creates", () => {
		const doc = buildOpenApi(
			[
				{
					actionName: "manager.list",
					fullPath: "/api/devices",
					methods: "GET",
					action: { answer: pageOf(DeviceRecord) }
				},
				{
					actionName: "manager.create",
					fullPath: "/api/devices",
					methods: "POST",
					action: { answer: DeviceRecord }
				},
				{ actionName: "gateway.health", fullPath: "/api/health", methods: "GET", action: {} }
			],
			{ title: "t", version: "1" }
		) as any;
		const list = doc.paths["/api/devices"].get.responses["200"].content["application/json"].schema;
		expect(list.required).toEqual(["items", "nextCursor"]);
		expect(list.additionalProperties).toBe(false);
		const created = doc.paths["/api/devices"].post.responses["201"].content["application/json"].schema;
		expect(list.properties.items.items).toEqual(created);
		expect(created.properties.createdAt).toEqual({ type: "string", format: "date-time" });
		// An action that declares nothing is described as "anything", not left out.
		expect(doc.paths["/api/health"].get.responses["200"].content["application/json"].schema).toEqual({});
		const validate = addFormats(new Ajv2020({ strict: false })).compile(list);
		const device = {
			...Object.fromEntries(Object.keys(created.properties).map(k => [k, null])),
			id: 1,
			name: "d",
			type: "t",
			config: {},
			status: "detected",
			nameAuto: false,
			createdAt: "2026-01-01T00:00:00.000Z",
			updatedAt: "2026-01-01T00:00:00.000Z"
		};
		expect(validate({ items: [device], nextCursor: null }), JSON.stringify(validate.errors)).toBe(true);
		expect(validate({ items: [device], nextCursor: null, total: 1 })).toBe(true);
		expect(validate({ items: [{ ...device, id: "1" }], nextCursor: null })).toBe(false);
		expect(validate({ items: [device] })).toBe(false);
		expect(validate({ items: [{ ...device, createdAt: 1767225600000 }], nextCursor: null })).toBe(false);
		expect(validate({ items: [{ ...device, createdAt: "yesterday" }], nextCursor: null })).toBe(false);
		expect(validate({ items: [device], nextCursor: null, rows: [] })).toBe(false);
	});
});
