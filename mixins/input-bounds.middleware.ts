/**
 * Bad input is a 422 naming the field, never a 500, on every action called from outside
 * (HTTP through a gateway, Socket.IO): wherever the action runs, before its handler,
 *  - no string (value or key) may hold a NUL byte (PostgreSQL text cannot store one);
 *  - parameters may nest at most MAX_DEPTH objects/arrays deep (a 100,000-deep body would
 *    overflow every recursive validator and serializer on its way);
 * and after it, an error PostgreSQL raises for a value it cannot take (SQLSTATE class 22: a
 * number out of range, an invalid text representation, a bad byte sequence) is a 422 too.
 * Integer ids are bounded to int32 by their param schemas (services/shared/params.ts); the
 * class-22 mapping is the net under any schema that forgot.
 */
import type { Context, Middleware } from "moleculer";
import { UnprocessableError } from "../services/shared/errors";
import { errorMessage } from "../services/shared/error-message";

export const MAX_DEPTH = 32;

/** The first problem in a value: where and what, or null. Iterative, so any depth is safe to check. */
export function inputProblem(value: unknown, maxDepth = MAX_DEPTH): { field: string; message: string } | null {
	const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: "", depth: 0 }];
	while (stack.length) {
		const { v, path, depth } = stack.pop()!;
		if (typeof v === "string") {
			if (v.includes("\u0000"))
				return { field: path || "(body)", message: `${path || "the value"} contains a NUL byte` };
			continue;
		}
		if (v === null || typeof v !== "object") continue;
		if (depth >= maxDepth)
			return { field: path || "(body)", message: `parameters nest deeper than ${maxDepth} levels` };
		if (Array.isArray(v)) {
			for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
		} else {
			for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
				const at = path ? `${path}.${k}` : k;
				if (k.includes("\u0000")) return { field: at, message: `a field name contains a NUL byte` };
				stack.push({ v: child, path: at, depth: depth + 1 });
			}
		}
	}
	return null;
}

/** Called from outside the mesh: a gateway put the client's address (HTTP and sockets) or a user in meta. */
function fromOutside(ctx: Context): boolean {
	const meta = ctx.meta as { clientIp?: unknown; user?: unknown } | undefined;
	return meta?.clientIp != null || meta?.user != null;
}

function mapDataError(err: unknown): never {
	const code = (err as { code?: unknown })?.code;
	if (typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)) {
		throw new UnprocessableError(`A value cannot be stored: ${errorMessage(err)}`, { sqlstate: code });
	}
	throw err;
}

export function InputBoundsMiddleware(): Middleware {
	return {
		name: "InputBounds",
		localAction(next: (ctx: Context) => Promise<unknown>) {
			return function boundedAction(ctx: Context) {
				if (fromOutside(ctx)) {
					const problem = inputProblem(ctx.params);
					if (problem) return Promise.reject(new UnprocessableError(problem.message, [problem]));
				}
				return next(ctx).catch(mapDataError);
			};
		}
	} as unknown as Middleware;
}
