/**
 * The OpenAPI 3.1 document of the HTTP API, generated from what the gateway publishes: every
 * alias of its routes (moleculer-web's alias list) and the `params` of the action behind it
 * (fastest-validator schemas, turned into JSON Schema 2020-12 here). Nothing is written by hand,
 * so the document cannot drift from the routes: a new action with `rest` appears in it.
 *
 * Path parameters come from the route (`/devices/:id` → `{id}`); the other params are the query of
 * GET/HEAD/DELETE routes and the JSON body of the others. Every operation answers errors in one
 * shape (`Error`), and needs a Bearer token unless its action says `auth: "public"`. Its success
 * answer is the action's `answer` schema (declared with the shape in services/shared/contracts/),
 * or `{}` (anything) for an action that declares none.
 */

export type JsonSchema = Record<string, unknown>;

type FvRule = string | Record<string, unknown> | FvRule[];

/** `"string|min:3|optional"` → `{ type: "string", min: 3, optional: true }` (fastest-validator shorthand). */
function expandShorthand(rule: string): Record<string, unknown> {
	const [type, ...opts] = rule.split("|");
	const r: Record<string, unknown> = { type: type.trim() };
	for (const o of opts) {
		const [k, v] = o.split(":");
		r[k.trim()] =
			v === undefined
				? true
				: /^-?\d+(\.\d+)?$/.test(v)
					? Number(v)
					: v === "true"
						? true
						: v === "false"
							? false
							: v;
	}
	return r;
}

function patternSource(p: unknown): string | undefined {
	if (p instanceof RegExp) return p.source;
	if (typeof p === "string") return p;
	return undefined;
}

/** Whether a param rule may be left out (optional, or has a default). */
export function isOptional(rule: FvRule): boolean {
	if (Array.isArray(rule)) return rule.some(isOptional);
	const r = typeof rule === "string" ? expandShorthand(rule) : rule;
	return r.optional === true || r.default !== undefined;
}

/** One fastest-validator rule as JSON Schema. Unknown rule types become `{}` (anything) with a note. */
export function fvToJsonSchema(rule: FvRule): JsonSchema {
	if (Array.isArray(rule)) {
		const alts = rule.map(fvToJsonSchema);
		return alts.length === 1 ? alts[0] : { anyOf: alts };
	}
	const r = typeof rule === "string" ? expandShorthand(rule) : rule;
	const type = String(r.type ?? "any");
	if (type === "multi") return fvToJsonSchema((r.rules as FvRule[]) ?? []);
	if (type === "forbidden") return { not: {} };
	const out = typeSchema(type, r);
	// The modifiers any rule type may have.
	if (r.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
	else if (r.nullable === true && Array.isArray(out.enum)) out.enum = [...out.enum, null];
	if (r.default !== undefined && typeof r.default !== "function") out.default = r.default;
	if (typeof r.description === "string") out.description = r.description;
	return out;
}

/** The schema of one rule type and its own options (`any` and unknown types: anything). */
function typeSchema(type: string, r: Record<string, unknown>): JsonSchema {
	const out: JsonSchema = {};
	switch (type) {
		case "string":
			return stringSchema(r);
		case "number": {
			out.type = r.integer ? "integer" : "number";
			if (typeof r.min === "number") out.minimum = r.min;
			if (typeof r.max === "number") out.maximum = r.max;
			if (r.positive) out.exclusiveMinimum = 0;
			if (r.negative) out.exclusiveMaximum = 0;
			if (typeof r.equal === "number") out.const = r.equal;
			return out;
		}
		case "boolean":
			return { type: "boolean" };
		case "enum":
			return { enum: Array.isArray(r.values) ? r.values : [] };
		case "email":
			return { type: "string", format: "email", ...(typeof r.max === "number" ? { maxLength: r.max } : {}) };
		case "url":
			return { type: "string", format: "uri" };
		case "uuid":
			return { type: "string", format: "uuid" };
		case "date":
			return { type: "string", format: "date-time" };
		case "mac":
			return { type: "string", pattern: "^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$" };
		case "equal":
			return { const: r.value };
		case "array": {
			out.type = "array";
			if (r.items !== undefined) out.items = fvToJsonSchema(r.items as FvRule);
			if (typeof r.min === "number") out.minItems = r.min;
			if (typeof r.max === "number") out.maxItems = r.max;
			if (r.unique) out.uniqueItems = true;
			return out;
		}
		case "object": {
			out.type = "object";
			const props = (r.props ?? r.properties) as Record<string, FvRule> | undefined;
			if (props) Object.assign(out, objectSchema(props, r.strict === true || r.strict === "remove"));
			return out;
		}
		default:
			return out;
	}
}

function stringSchema(r: Record<string, unknown>): JsonSchema {
	const out: JsonSchema = { type: "string" };
	if (typeof r.min === "number") out.minLength = r.min;
	if (typeof r.max === "number") out.maxLength = r.max;
	if (typeof r.length === "number") out.minLength = out.maxLength = r.length;
	const p = patternSource(r.pattern);
	if (p) out.pattern = p;
	if (Array.isArray(r.enum)) out.enum = r.enum;
	if (r.numeric) out.pattern = "^-?\\d+(\\.\\d+)?$";
	return out;
}

/** A JSON Schema of an object, as objectSchema makes it. */
type ObjectSchema = {
	type: "object";
	properties: Record<string, JsonSchema>;
	required?: string[];
	additionalProperties: boolean;
};

/** A params object (`{ name: rule, … }`, `$$`-keys skipped) as an object schema. */
export function objectSchema(params: Record<string, FvRule>, strict = false): ObjectSchema {
	const properties: Record<string, JsonSchema> = {};
	const required: string[] = [];
	for (const [k, rule] of Object.entries(params)) {
		if (k.startsWith("$$")) continue;
		properties[k] = fvToJsonSchema(rule);
		if (!isOptional(rule)) required.push(k);
	}
	return {
		type: "object",
		properties,
		...(required.length ? { required } : {}),
		additionalProperties: !(strict || (params as Record<string, unknown>).$$strict === true)
	};
}

export interface AliasInfo {
	actionName?: string;
	fullPath: string;
	methods: string;
	action?: {
		name?: string;
		params?: Record<string, FvRule>;
		auth?: string;
		visibility?: string;
		description?: string;
		rest?: unknown;
		answer?: JsonSchema;
	};
}

const WRITE = new Set(["post", "put", "patch"]);

/** `/api/devices/:id` → `/api/devices/{id}` and the path parameter names (`:path*` → `{path}`). */
export function openApiPath(fullPath: string): { path: string; names: string[] } {
	const names: string[] = [];
	const path = fullPath.replace(/\/{2,}/g, "/").replace(/:([A-Za-z_][A-Za-z0-9_]*)[*+?]?/g, (_m, n: string) => {
		names.push(n);
		return `{${n}}`;
	});
	return { path: path.length > 1 ? path.replace(/\/$/, "") : path, names };
}

const ERROR_SCHEMA: JsonSchema = {
	type: "object",
	description: "Every 4xx/5xx answer: the Moleculer error, without a stack.",
	properties: {
		name: { type: "string" },
		message: { type: "string" },
		code: { type: "integer" },
		type: { type: "string", description: "stable machine-readable kind, e.g. VALIDATION_ERROR, NOT_FOUND" },
		data: { description: "details, e.g. the fields that failed validation" }
	},
	required: ["name", "message", "code", "type"]
};

/** A schema as plain JSON: TypeBox's symbol keys dropped, and no object shared between operations. */
function publishable(schema: JsonSchema): JsonSchema {
	return JSON.parse(JSON.stringify(schema)) as JsonSchema;
}

function operationId(action: string, method: string, path: string, used: Set<string>): string {
	const camel = (s: string) =>
		s.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""));
	let id = camel(action);
	if (used.has(id)) id = `${id}${method[0].toUpperCase()}${method.slice(1)}${camel(path)}`;
	used.add(id);
	return id;
}

/** The OpenAPI 3.1 document for these aliases. */
export function buildOpenApi(
	aliases: AliasInfo[],
	info: { title: string; version: string; description?: string }
): JsonSchema {
	const paths: Record<string, Record<string, JsonSchema>> = {};
	const used = new Set<string>();
	const sorted = [...aliases].sort(
		(a, b) => a.fullPath.localeCompare(b.fullPath) || a.methods.localeCompare(b.methods)
	);
	for (const alias of sorted) {
		const actionName = alias.actionName;
		if (!actionName || alias.action?.visibility === "protected" || alias.action?.visibility === "private") continue;
		const { path, names } = openApiPath(alias.fullPath);
		for (const method of aliasMethods(alias.methods)) {
			const op: JsonSchema = {
				operationId: operationId(actionName, method, path, used),
				summary: alias.action?.description ?? actionName,
				tags: [actionName.split(".")[0]],
				"x-moleculer-action": actionName
			};
			Object.assign(op, operationInput(method, names, alias.action?.params ?? {}));
			op.responses = responses(actionName, method, alias.action?.answer);
			if (alias.action?.auth === "public") op.security = [];
			else if (alias.action?.auth === "admin") op["x-auth"] = "admin";
			(paths[path] ??= {})[method] = op;
		}
	}
	return {
		openapi: "3.1.0",
		jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
		info,
		servers: [{ url: "/" }],
		paths,
		components: {
			schemas: { Error: ERROR_SCHEMA },
			securitySchemes: {
				bearerAuth: {
					type: "http",
					scheme: "bearer",
					bearerFormat: "JWT",
					description: "POST /api/users/auth → access_token"
				}
			}
		},
		security: [{ bearerAuth: [] }]
	};
}

/** The HTTP methods of an alias that OpenAPI can describe (`*` stands for the usual five). */
function aliasMethods(methods: string): string[] {
	const listed = methods === "*" ? ["get", "post", "put", "patch", "delete"] : methods.split(",");
	return listed
		.map(m => m.trim().toLowerCase())
		.filter(m => ["get", "post", "put", "patch", "delete", "head", "options"].includes(m));
}

/**
 * An operation's inputs: path parameters from the path, the other action params as the JSON body
 * of a write or as query parameters of a read (`$$` options of the validator are no input).
 */
function operationInput(
	method: string,
	names: string[],
	params: Record<string, FvRule>
): { parameters?: JsonSchema[]; requestBody?: JsonSchema } {
	const out: { parameters?: JsonSchema[]; requestBody?: JsonSchema } = {};
	const parameters: JsonSchema[] = names.map(n => ({
		name: n,
		in: "path",
		required: true,
		schema: params[n] ? fvToJsonSchema(params[n]) : { type: "string" }
	}));
	const rest: Record<string, FvRule> = {};
	for (const [k, v] of Object.entries(params)) if (!names.includes(k)) rest[k] = v;
	if (WRITE.has(method)) {
		const body = objectSchema(rest);
		if (Object.keys(body.properties).length)
			out.requestBody = { required: !!body.required?.length, content: { "application/json": { schema: body } } };
	} else {
		for (const [k, v] of Object.entries(rest)) {
			if (k.startsWith("$$")) continue;
			parameters.push({ name: k, in: "query", required: !isOptional(v), schema: fvToJsonSchema(v) });
		}
	}
	if (parameters.length) out.parameters = parameters;
	return out;
}

/** The answers: the action's published shape (201 for a create or add), and the error shape for 4XX and 5XX. */
function responses(actionName: string, method: string, answer: JsonSchema | undefined): JsonSchema {
	const okCode = method === "post" && /\b(create|add)\b/i.test(actionName.split(".").pop() ?? "") ? "201" : "200";
	return {
		[okCode]: {
			description: okCode === "201" ? "Created: the new resource" : "OK",
			content: { "application/json": { schema: publishable(answer ?? {}) } }
		},
		"4XX": {
			description:
				"Client error (401 no or revoked token, 403 not allowed, 404 unknown id, 409 " +
				"conflict, 422 invalid input, 429 rate limited)",
			content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } }
		},
		"5XX": {
			description: "Server error (503: a needed service is unavailable)",
			content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } }
		}
	};
}
