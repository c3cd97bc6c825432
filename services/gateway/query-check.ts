/**
 * Unknown query parameters are refused (422 naming them), as bodies already are by `$$strict`:
 * a typo such as `?stauts=open` must not silently return the unfiltered list. The known names are
 * the action's own params (fastest-validator schema) that moleculer-web attached to the request.
 */
import type { IncomingMessage } from "node:http";
import { UnprocessableError } from "../shared/errors";

type ApiRequest = IncomingMessage & {
	query?: Record<string, unknown>;
	$action?: { name?: string; params?: Record<string, unknown> };
};

/** Query names the action does not declare (an action without params takes none). */
export function unknownQueryParams(
	params: Record<string, unknown> | undefined,
	query: Record<string, unknown> | undefined
): string[] {
	if (!query) return [];
	if (params && (typeof params !== "object" || "$$root" in params)) return [];
	params ??= {};
	return Object.keys(query).filter(k => !Object.prototype.hasOwnProperty.call(params, k) || k.startsWith("$$"));
}

/**
 * moleculer-web runs this hook before authentication: a request without a token to a route that
 * needs one is left to the authentication (401), so the order of answers stays "who are you"
 * before "what did you send".
 */
export function rejectUnknownQuery(req: IncomingMessage): void {
	const r = req as ApiRequest & { $action?: { auth?: string } };
	if (r.$action?.auth !== "public" && !req.headers.authorization) return;
	const unknown = unknownQueryParams(r.$action?.params, r.query);
	if (!unknown.length) return;
	const known = Object.keys(r.$action?.params ?? {}).filter(k => !k.startsWith("$$"));
	throw new UnprocessableError(
		`Unknown query parameter${unknown.length > 1 ? "s" : ""} ${unknown.map(u => `'${u}'`).join(", ")}` +
			(known.length ? `; this route takes ${known.join(", ")}` : "; this route takes none"),
		unknown.map(field => ({ field, message: "unknown query parameter", value: r.query?.[field] }))
	);
}
