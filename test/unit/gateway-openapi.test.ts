/** fastest-validator params → JSON Schema, and aliases → OpenAPI operations (services/gateway/openapi.ts). */
import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import { buildOpenApi, fvToJsonSchema, objectSchema, openApiPath } from "../../services/gateway/openapi";

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
});
