/**
 * The request hash exactly as upstream computes it (asu/util.py get_request_hash): the job
 * id, the store directory and the cache key. Python's str()/repr() and json.dumps are
 * reproduced here because their output is part of what gets hashed.
 */
import crypto from "node:crypto";
import type { BuildRequest } from "../contracts/builds";
import { keysOf } from "./ordered-json";

export function sha256Hex(s: string): string {
	return crypto.createHash("sha256").update(s, "utf8").digest("hex");
}

/** Python compares strings by code point; JavaScript's default sort by UTF-16 unit differs above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
	const ia = a[Symbol.iterator]();
	const ib = b[Symbol.iterator]();
	for (;;) {
		const x = ia.next();
		const y = ib.next();
		if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
		const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
		if (d !== 0) return d;
	}
}

// str.isprintable(): everything but the Unicode "Other" and "Separator" categories, and ' ' is printable.
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/** Python's repr() of a str. */
export function pyReprStr(s: string): string {
	const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
	let out = quote;
	for (const ch of s) {
		if (ch === quote || ch === "\\") out += "\\" + ch;
		else if (ch === "\t") out += "\\t";
		else if (ch === "\n") out += "\\n";
		else if (ch === "\r") out += "\\r";
		else if (ch !== " " && NON_PRINTABLE.test(ch)) {
			const cp = ch.codePointAt(0)!;
			out +=
				cp < 0x100
					? `\\x${cp.toString(16).padStart(2, "0")}`
					: cp < 0x10000
						? `\\u${cp.toString(16).padStart(4, "0")}`
						: `\\U${cp.toString(16).padStart(8, "0")}`;
		} else out += ch;
	}
	return out + quote;
}

/** Python's str() of the values a BuildRequest holds (None, bool, int, str, list, dict in its order). */
export function pyStr(v: unknown, nested = false): string {
	if (v === null || v === undefined) return "None";
	if (typeof v === "boolean") return v ? "True" : "False";
	if (typeof v === "number") return String(v);
	if (typeof v === "string") return nested ? pyReprStr(v) : v;
	if (Array.isArray(v)) return `[${v.map(x => pyStr(x, true)).join(", ")}]`;
	return `{${keysOf(v as object)
		.map(k => `${pyReprStr(k)}: ${pyStr((v as Record<string, unknown>)[k], true)}`)
		.join(", ")}}`;
}

/** json.dumps(s) with ensure_ascii (the default): everything outside ' '..'~' escaped. */
function pyJsonStr(s: string): string {
	let out = '"';
	for (let i = 0; i < s.length; i++) {
		const c = s.charCodeAt(i);
		const ch = s[i];
		if (ch === '"') out += '\\"';
		else if (ch === "\\") out += "\\\\";
		else if (ch === "\n") out += "\\n";
		else if (ch === "\r") out += "\\r";
		else if (ch === "\t") out += "\\t";
		else if (ch === "\b") out += "\\b";
		else if (ch === "\f") out += "\\f";
		else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, "0")}`;
		else out += ch;
	}
	return out + '"';
}

/** json.dumps(dict_of_str, sort_keys=True). */
export function pyJsonDumpsSorted(obj: Record<string, string>): string {
	const keys = Object.keys(obj).sort(compareCodePoints);
	return `{${keys.map(k => `${pyJsonStr(k)}: ${pyJsonStr(obj[k])}`).join(", ")}}`;
}

/** get_packages_hash: sorted, de-duplicated, "+" stripped, space-joined. */
export function packagesHash(packages: Iterable<string>): string {
	const set = new Set<string>();
	for (const p of packages) set.add(p.startsWith("+") ? p.slice(1) : p);
	return sha256Hex([...set].sort(compareCodePoints).join(" "));
}

/** get_request_hash of a request whose profile is already sanitized ("," -> "_"). */
export function requestHash(r: BuildRequest): string {
	const versionKeys = keysOf(r.packages_versions);
	return sha256Hex(
		[
			r.distro,
			r.version,
			r.version_code,
			r.target,
			r.profile,
			packagesHash(versionKeys.length ? versionKeys : r.packages),
			sha256Hex(pyJsonDumpsSorted(r.packages_versions)),
			pyStr(r.diff_packages),
			r.filesystem ?? "",
			sha256Hex(r.defaults ?? ""),
			pyStr(r.rootfs_size_mb),
			pyStr(r.repository_keys),
			pyStr(r.repositories),
			r.repositories_mode
		].join("")
	);
}
