/**
 * JSON that keeps an object's key order as written.
 *
 * A JavaScript object lists integer-like keys ("0", "9") before all others, whatever order
 * they arrived in. ASU's request hash includes Python's `str(repositories)`, a dict in the
 * order the client sent it, so a repository named "9" after one named "9a" must stay there.
 * `parseOrdered` records each object's original key order under KEY_ORDER; `keysOf` and
 * `stringifyOrdered` honour it. Everything else is plain JSON.
 */
export const KEY_ORDER = Symbol("keyOrder");

type Ordered = Record<string, unknown> & { [KEY_ORDER]?: string[] };

/** The keys of `obj` in the order they were parsed (or set, for plain objects). */
export function keysOf(obj: object): string[] {
	const order = (obj as Ordered)[KEY_ORDER];
	if (order) return order.filter(k => Object.prototype.hasOwnProperty.call(obj, k));
	return Object.keys(obj);
}

/** Copies an object keeping its recorded key order (pass `order` to set one). */
export function withOrder<T extends object>(obj: T, order: string[] = keysOf(obj)): T {
	Object.defineProperty(obj, KEY_ORDER, { value: order, enumerable: false, configurable: true, writable: true });
	return obj;
}

export class JsonSyntaxError extends Error {
	constructor(
		message: string,
		readonly position: number
	) {
		super(message);
	}
}

/** JSON.parse, except that objects remember their key order (see keysOf). */
export function parseOrdered(text: string): unknown {
	let i = 0;
	const ws = () => {
		while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
	};
	const fail = (what: string): never => {
		throw new JsonSyntaxError(`${what} at position ${i}`, i);
	};
	const str = (): string => {
		// The string token is handed to JSON.parse: escapes and surrogates exactly as JSON defines them.
		const start = i++;
		while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
		if (i >= text.length) fail("Unterminated string");
		i++;
		try {
			return JSON.parse(text.slice(start, i)) as string;
		} catch {
			return fail("Bad string");
		}
	};
	const value = (depth: number): unknown => {
		if (depth > 64) fail("Nesting too deep");
		ws();
		const c = text[i];
		if (c === "{") {
			i++;
			const obj: Ordered = {};
			const order: string[] = [];
			ws();
			if (text[i] === "}") {
				i++;
				return withOrder(obj, order);
			}
			for (;;) {
				ws();
				if (text[i] !== '"') fail("Expected a property name");
				const key = str();
				ws();
				if (text[i] !== ":") fail("Expected ':'");
				i++;
				const v = value(depth + 1);
				if (!Object.prototype.hasOwnProperty.call(obj, key)) order.push(key);
				// A repeated key keeps its first position and its last value, as in Python's json.
				Object.defineProperty(obj, key, { value: v, enumerable: true, configurable: true, writable: true });
				ws();
				if (text[i] === ",") {
					i++;
					continue;
				}
				if (text[i] === "}") {
					i++;
					return withOrder(obj, order);
				}
				fail("Expected ',' or '}'");
			}
		}
		if (c === "[") {
			i++;
			const arr: unknown[] = [];
			ws();
			if (text[i] === "]") {
				i++;
				return arr;
			}
			for (;;) {
				arr.push(value(depth + 1));
				ws();
				if (text[i] === ",") {
					i++;
					continue;
				}
				if (text[i] === "]") {
					i++;
					return arr;
				}
				fail("Expected ',' or ']'");
			}
		}
		if (c === '"') return str();
		const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
		if (!m) return fail("Unexpected token");
		i += m[0].length;
		return JSON.parse(m[0]);
	};
	const v = value(0);
	ws();
	if (i !== text.length) fail("Unexpected data after JSON");
	return v;
}

/** JSON.stringify that writes objects in their recorded key order. */
export function stringifyOrdered(v: unknown): string {
	if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
	if (Array.isArray(v)) return `[${v.map(x => (x === undefined ? "null" : stringifyOrdered(x))).join(",")}]`;
	const parts: string[] = [];
	for (const k of keysOf(v)) {
		const x = (v as Record<string, unknown>)[k];
		if (x === undefined || typeof x === "function") continue;
		parts.push(`${JSON.stringify(k)}:${stringifyOrdered(x)}`);
	}
	return `{${parts.join(",")}}`;
}
