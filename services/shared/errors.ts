/**
 * Errors in the one shape every HTTP client sees: { name, message, code, type, data? }.
 *
 * Services throw these (or Moleculer's own errors); the gateway maps anything else so that a
 * response never carries a stack trace or a driver's internal message.
 */
import { Errors } from "moleculer";
import { SHED_RETRY_AFTER_S } from "./bulkheads";

const { MoleculerError, MoleculerClientError } = Errors;

export class NotFoundError extends MoleculerClientError {
	constructor(what: string, id: unknown) {
		super(`${what} ${JSON.stringify(id)} not found`, 404, "NOT_FOUND", { id });
	}
}

export class ConflictError extends MoleculerClientError {
	constructor(message: string, data?: unknown) {
		super(message, 409, "CONFLICT", data);
	}
}

export class UnprocessableError extends MoleculerClientError {
	constructor(message: string, data?: unknown) {
		super(message, 422, "VALIDATION_ERROR", data);
	}
}

export class UnauthorizedError extends MoleculerClientError {
	constructor(message = "A valid token is required", type = "UNAUTHORIZED") {
		super(message, 401, type);
	}
}

export class ForbiddenError extends MoleculerClientError {
	constructor(message = "Administrators only") {
		super(message, 403, "FORBIDDEN");
	}
}

export class ServiceUnavailableError extends MoleculerError {
	constructor(message: string, data?: unknown) {
		super(message, 503, "SERVICE_NOT_AVAILABLE", data);
	}
}

/** Too many attempts: 429; `retryAfter` (seconds) also goes out as the Retry-After header. */
export class TooManyRequestsError extends MoleculerClientError {
	constructor(message: string, retryAfter: number) {
		super(message, 429, "RATE_LIMITED", { retryAfter });
	}
}

/**
 * Rebuilds errors that arrive from another node. Moleculer knows only its own error classes by
 * name; the classes above (and any other error carrying an HTTP-like code) would come back as a
 * plain Error, which the gateway must treat as an internal 500. Restored as Moleculer errors
 * with their name, message, code, type and data, they reach the client as thrown.
 * Set as `errorRegenerator` in moleculer.config.ts.
 */
export class FleetErrorRegenerator extends Errors.Regenerator {
	override restoreCustomError(plain: Errors.PlainMoleculerError): Error | undefined {
		// Moleculer's own classes are restored by Moleculer, keeping their identity.
		if (plain.name in Errors) return undefined;
		if (typeof plain.code !== "number" || plain.code < 400 || plain.code > 599) return undefined;
		const err =
			plain.code < 500
				? new MoleculerClientError(plain.message, plain.code, plain.type, plain.data)
				: new MoleculerError(plain.message, plain.code, plain.type, plain.data);
		err.name = plain.name;
		err.retryable = !!plain.retryable;
		return err;
	}
}

/** The error an HTTP client sees for any error thrown while serving it. */
export function toHttpError(err: unknown): InstanceType<typeof MoleculerError> {
	if (err instanceof MoleculerError) return fromMoleculerError(err);
	const e = err as { name?: string; message?: string; status?: number; statusCode?: number; type?: string };
	// Errors from body parsers and the like carry an HTTP status of their own.
	const status = e?.status ?? e?.statusCode;
	if (typeof status === "number" && status >= 400 && status < 500) {
		return new MoleculerClientError(
			e.message ?? "Bad request",
			status,
			e.type ? String(e.type).toUpperCase().replace(/\./g, "_") : "BAD_REQUEST"
		);
	}
	const internal = new MoleculerError("Internal error", 500, "INTERNAL_ERROR");
	internal.name = "InternalError";
	return internal;
}

/** A Moleculer error as the client should see it: what the mesh's internals say, in HTTP terms. */
function fromMoleculerError(err: InstanceType<typeof MoleculerError>): InstanceType<typeof MoleculerError> {
	// The service the route needs is gone (node down, circuit open): 503, not 404.
	if (err.type === "SERVICE_NOT_FOUND" || err.type === "SERVICE_NOT_AVAILABLE") {
		const e = new MoleculerError(
			"The service for this request is not available right now",
			503,
			"SERVICE_NOT_AVAILABLE",
			err.data
		);
		e.name = "ServiceNotAvailableError";
		return e;
	}
	// Parameter validation: the message says what was wrong ("The 'status' field must be one of …
	// (got 'opne')"), not only "Parameters validation error!"; the fields stay in data.
	if (
		err.type === "VALIDATION_ERROR" &&
		Array.isArray(err.data) &&
		err.data.length &&
		/^Parameters validation error/.test(err.message)
	) {
		const messages = (err.data as { message?: string }[]).map(d => d.message).filter(Boolean);
		if (messages.length) {
			const e = new MoleculerClientError(messages.join(" "), 422, "VALIDATION_ERROR", err.data);
			e.name = "ValidationError";
			return e;
		}
	}
	// Moleculer's bulkhead refuses with QueueIsFullError (429 QUEUE_FULL) past its queue: the
	// node is saturated, not this client over a rate limit, so 503 with when to come back
	// (the gateway sends data.retryAfter as Retry-After).
	if (err.type === "QUEUE_FULL") {
		const e = new MoleculerError("This node is at capacity: try again in a moment", 503, "SERVER_BUSY", {
			action: (err.data as { action?: string } | undefined)?.action,
			retryAfter: SHED_RETRY_AFTER_S
		});
		e.name = "ServerBusyError";
		return e;
	}
	return err;
}
