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
	const p = new OrderedParser(text);
	const v = p.value(0);
	p.ws();
	if (p.i !== text.length) p.fail("Unexpected data after JSON");
	return v;
}

/** A recursive-descent JSON reader over `text` from position `i`; errors name their position. */
class OrderedParser {
	i = 0;

	constructor(private readonly text: string) {}

	ws(): void {
		const t = this.text;
		while (
			this.i < t.length &&
			(t[this.i] === " " || t[this.i] === "\t" || t[this.i] === "\n" || t[this.i] === "\r")
		)
			this.i++;
	}

	fail(what: string): never {
		throw new JsonSyntaxError(`${what} at position ${this.i}`, this.i);
	}

	/** Skips whitespace and takes `c` if it comes next. */
	take(c: string): boolean {
		this.ws();
		if (this.text[this.i] !== c) return false;
		this.i++;
		return true;
	}

	value(depth: number): unknown {
		if (depth > 64) this.fail("Nesting too deep");
		this.ws();
		const c = this.text[this.i];
		if (c === "{") return this.object(depth);
		if (c === "[") return this.array(depth);
		if (c === '"') return this.str();
		const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
			this.text.slice(this.i, this.i + 400)
		);
		if (!m) return this.fail("Unexpected token");
		this.i += m[0].length;
		return JSON.parse(m[0]);
	}

	str(): string {
		// The string token is handed to JSON.parse: escapes and surrogates exactly as JSON defines them.
		const t = this.text;
		const start = this.i++;
		while (this.i < t.length && t[this.i] !== '"') this.i += t[this.i] === "\\" ? 2 : 1;
		if (this.i >= t.length) this.fail("Unterminated string");
		this.i++;
		try {
			return JSON.parse(t.slice(start, this.i)) as string;
		} catch {
			return this.fail("Bad string");
		}
	}

	object(depth: number): Ordered {
		this.i++;
		const obj: Ordered = {};
		const order: string[] = [];
		if (this.take("}")) return withOrder(obj, order);
		for (;;) {
			this.ws();
			if (this.text[this.i] !== '"') this.fail("Expected a property name");
			const key = this.str();
			if (!this.take(":")) this.fail("Expected ':'");
			const v = this.value(depth + 1);
			if (!Object.prototype.hasOwnProperty.call(obj, key)) order.push(key);
			// A repeated key keeps its first position and its last value, as in Python's json.
			Object.defineProperty(obj, key, { value: v, enumerable: true, configurable: true, writable: true });
			if (this.take(",")) continue;
			if (this.take("}")) return withOrder(obj, order);
			this.fail("Expected ',' or '}'");
		}
	}

	array(depth: number): unknown[] {
		this.i++;
		const arr: unknown[] = [];
		if (this.take("]")) return arr;
		for (;;) {
			arr.push(this.value(depth + 1));
			if (this.take(",")) continue;
			if (this.take("]")) return arr;
			this.fail("Expected ',' or ']'");
		}
	}
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
