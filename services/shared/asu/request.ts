/**
 * The build request as upstream's pydantic model reads it (asu/build_request.py): the same
 * fields, defaults, patterns and lax conversions, and 422 answers in FastAPI's shape
 * `{"detail": [{type, loc: ["body", field, …], msg, input}]}` that clients print as they are.
 */
import { FILESYSTEMS, type BuildRequest } from "../contracts/builds";
import { JsonSyntaxError, keysOf, parseOrdered, withOrder } from "./ordered-json";
import { errorMessage } from "../error-message";

export interface FieldError {
	type: string;
	loc: (string | number)[];
	msg: string;
	input: unknown;
	ctx?: Record<string, unknown>;
}

export const MAX_DEFAULTS_LENGTH = 20480;
export const MAX_ROOTFS_SIZE_MB = 1024;

// pydantic-core matches patterns with Rust's regex crate, whose \w is Unicode-aware.
const W = String.raw`\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}`;
const PATTERNS = {
	string: { text: String.raw`^[\w.,-]*$`, re: new RegExp(`^[${W}.,-]*$`, "u") },
	target: { text: String.raw`^[\w]*/[\w]*$`, re: new RegExp(`^[${W}]*/[${W}]*$`, "u") },
	pkgVersion: { text: String.raw`^[\w+.,~-]*$`, re: new RegExp(`^[${W}+.,~-]*$`, "u") },
	repoName: { text: String.raw`^[\w.-]+$`, re: new RegExp(`^[${W}.-]+$`, "u") },
	repoUrl: { text: String.raw`^https?://\S+$`, re: /^https?:\/\/\S+$/u }
};
type Pattern = (typeof PATTERNS)[keyof typeof PATTERNS];

const TRUE_STRINGS = new Set(["1", "on", "t", "true", "y", "yes"]);
const FALSE_STRINGS = new Set(["0", "off", "f", "false", "n", "no"]);

class Reader {
	errors: FieldError[] = [];
	constructor(private readonly body: Record<string, unknown>) {}

	has(field: string): boolean {
		return Object.prototype.hasOwnProperty.call(this.body, field);
	}

	error(
		type: string,
		loc: (string | number)[],
		msg: string,
		input: unknown,
		ctx?: Record<string, unknown>
	): undefined {
		this.errors.push({ type, loc: ["body", ...loc], msg, input, ...(ctx ? { ctx } : {}) });
		return undefined;
	}

	str(value: unknown, loc: (string | number)[], pattern?: Pattern, maxLength?: number): string | undefined {
		if (typeof value !== "string") return this.error("string_type", loc, "Input should be a valid string", value);
		if (maxLength != null && [...value].length > maxLength) {
			return this.error("string_too_long", loc, `String should have at most ${maxLength} characters`, value, {
				max_length: maxLength
			});
		}
		if (pattern && !pattern.re.test(value)) {
			return this.error("string_pattern_mismatch", loc, `String should match pattern '${pattern.text}'`, value, {
				pattern: pattern.text
			});
		}
		return value;
	}

	field<T>(name: string, fallback: T, read: (v: unknown) => T | undefined, required = false): T {
		if (!this.has(name)) {
			if (required) this.error("missing", [name], "Field required", this.body);
			return fallback;
		}
		return read(this.body[name]) ?? fallback;
	}

	list(value: unknown, loc: string, pattern?: Pattern): string[] | undefined {
		if (!Array.isArray(value)) return this.error("list_type", [loc], "Input should be a valid list", value);
		const out: string[] = [];
		value.forEach((v, i) => {
			const s = this.str(v, [loc, i], pattern);
			if (s != null) out.push(s);
		});
		return out;
	}

	dict(value: unknown, loc: string, keyPattern: Pattern, valuePattern: Pattern): Record<string, string> | undefined {
		if (value === null || typeof value !== "object" || Array.isArray(value))
			return this.error("dict_type", [loc], "Input should be a valid dictionary", value);
		const out: Record<string, string> = {};
		const order: string[] = [];
		for (const k of keysOf(value)) {
			const key = this.str(k, [loc, k, "[key]"], keyPattern);
			const v = this.str((value as Record<string, unknown>)[k], [loc, k], valuePattern);
			if (key != null && v != null) {
				out[key] = v;
				order.push(key);
			}
		}
		return withOrder(out, order);
	}

	bool(value: unknown, loc: string): boolean | undefined {
		if (typeof value === "boolean") return value;
		if (value === 0 || value === 1) return value === 1;
		if (typeof value === "string") {
			const s = value.trim().toLowerCase();
			if (TRUE_STRINGS.has(s)) return true;
			if (FALSE_STRINGS.has(s)) return false;
			return this.error(
				"bool_parsing",
				[loc],
				"Input should be a valid boolean, unable to interpret input",
				value
			);
		}
		return this.error("bool_type", [loc], "Input should be a valid boolean", value);
	}

	int(value: unknown, loc: string, min: number, max: number): number | undefined {
		let n: number;
		if (typeof value === "number" && !Number.isNaN(value)) {
			if (!Number.isInteger(value))
				return this.error(
					"int_from_float",
					[loc],
					"Input should be a valid integer, got a number with a fractional part",
					value
				);
			n = value;
		} else if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) n = Number(value.trim());
		else if (typeof value === "string")
			return this.error(
				"int_parsing",
				[loc],
				"Input should be a valid integer, unable to parse string as an integer",
				value
			);
		else return this.error("int_type", [loc], "Input should be a valid integer", value);
		if (n < min)
			return this.error("greater_than_equal", [loc], `Input should be greater than or equal to ${min}`, value, {
				ge: min
			});
		if (n > max)
			return this.error("less_than_equal", [loc], `Input should be less than or equal to ${max}`, value, {
				le: max
			});
		return n;
	}

	literal<T extends string>(value: unknown, loc: string, values: readonly T[]): T | undefined {
		if (typeof value === "string" && (values as readonly string[]).includes(value)) return value as T;
		const list = values.map(v => `'${v}'`);
		const expected = list.length > 1 ? `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}` : list[0];
		return this.error("literal_error", [loc], `Input should be ${expected}`, value, { expected });
	}
}

export type ParsedRequest = { ok: true; request: BuildRequest } | { ok: false; detail: FieldError[] };

/** Reads a request body (an object, or the JSON text itself, parsed keeping key order). */
export function parseBuildRequest(
	body: unknown,
	limits = { maxDefaultsLength: MAX_DEFAULTS_LENGTH, maxRootfsSizeMb: MAX_ROOTFS_SIZE_MB }
): ParsedRequest {
	const obj = bodyObject(body);
	if (!obj.ok) return obj;
	const r = new Reader(obj.body);
	const request = readFields(r, limits);
	if (r.errors.length) return { ok: false, detail: r.errors };
	// Older LuCI versions send the board name ("tplink,archer-c7-v5"); the ImageBuilder profile uses "_".
	request.profile = request.profile.replace(/,/g, "_");
	return { ok: true, request };
}

function isObject(v: unknown): v is Record<string, unknown> {
	return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The body as an object, or the error upstream (pydantic) answers for bad JSON or a non-object. */
function bodyObject(body: unknown): { ok: true; body: Record<string, unknown> } | { ok: false; detail: FieldError[] } {
	if (typeof body === "string" || Buffer.isBuffer(body)) {
		try {
			body = parseOrdered(body.toString());
		} catch (err) {
			const pos = err instanceof JsonSyntaxError ? err.position : 0;
			const error = { type: "json_invalid", loc: ["body", pos], msg: "JSON decode error", input: {} };
			return { ok: false, detail: [{ ...error, ctx: { error: errorMessage(err) } }] };
		}
	}
	if (isObject(body)) return { ok: true, body };
	return {
		ok: false,
		detail: [
			{
				type: "model_attributes_type",
				loc: ["body"],
				msg: "Input should be a valid dictionary or object to extract fields from",
				input: body
			}
		]
	};
}

/** Every field with its default, pattern and bounds; what is wrong is collected in `r.errors`. */
function readFields(r: Reader, limits: { maxDefaultsLength: number; maxRootfsSizeMb: number }): BuildRequest {
	const optional =
		<T>(read: (v: unknown) => T | undefined) =>
		(v: unknown) =>
			v === null ? null : read(v);
	return {
		distro: r.field("distro", "openwrt", v => r.str(v, ["distro"], PATTERNS.string)),
		version: r.field("version", "", v => r.str(v, ["version"], PATTERNS.string), true),
		version_code: r.field("version_code", "", v => r.str(v, ["version_code"], PATTERNS.string)),
		target: r.field("target", "", v => r.str(v, ["target"], PATTERNS.target), true),
		profile: r.field("profile", "", v => r.str(v, ["profile"], PATTERNS.string), true),
		packages: r.field("packages", [] as string[], v => r.list(v, "packages", PATTERNS.string)),
		packages_versions: r.field("packages_versions", withOrder({}, []), v =>
			r.dict(v, "packages_versions", PATTERNS.string, PATTERNS.pkgVersion)
		),
		diff_packages: r.field("diff_packages", false, v => r.bool(v, "diff_packages")),
		defaults: r.field<string | null>(
			"defaults",
			null,
			optional(v => r.str(v, ["defaults"], undefined, limits.maxDefaultsLength))
		),
		rootfs_size_mb: r.field<number | null>(
			"rootfs_size_mb",
			null,
			optional(v => r.int(v, "rootfs_size_mb", 1, limits.maxRootfsSizeMb))
		),
		filesystem: r.field<BuildRequest["filesystem"]>(
			"filesystem",
			null,
			optional(v => r.literal(v, "filesystem", FILESYSTEMS))
		),
		repositories: r.field("repositories", withOrder({}, []), v =>
			r.dict(v, "repositories", PATTERNS.repoName, PATTERNS.repoUrl)
		),
		repositories_mode: r.field<BuildRequest["repositories_mode"]>("repositories_mode", "replace", v =>
			r.literal(v, "repositories_mode", ["append", "replace"] as const)
		),
		repository_keys: r.field("repository_keys", [] as string[], v => r.list(v, "repository_keys")),
		client: r.field<string | null>(
			"client",
			null,
			optional(v => r.str(v, ["client"]))
		)
	};
}

/** The client for statistics: the body's `client`, else an auc User-Agent, else "unknown/0". */
export function clientOf(request: BuildRequest, userAgent: string | undefined): string {
	if (request.client) return request.client;
	if (userAgent?.startsWith("auc")) return userAgent.replace(" (", "/").replace(")", "");
	return "unknown/0";
}

/** Result TTL of a job (upstream: 30 min with defaults, 7 d with package versions, 24 h otherwise). */
export function resultTtlS(
	request: BuildRequest,
	ttl: { defaultsS: number; versionedS: number; unversionedS: number }
): number {
	if (request.defaults) return ttl.defaultsS;
	if (keysOf(request.packages_versions).length) return ttl.versionedS;
	return ttl.unversionedS;
}
