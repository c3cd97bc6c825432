import { Errors } from "moleculer";
import { describe, expect, it } from "vitest";
import { NotFoundError, toHttpError } from "../../services/shared/errors";

describe("HTTP error mapping", () => {
	it("keeps client errors as they are", () => {
		const e = toHttpError(new NotFoundError("device", 7));
		expect(e).toMatchObject({ code: 404, type: "NOT_FOUND", data: { id: 7 } });
		expect(toHttpError(new Errors.ValidationError("bad", "VALIDATION_ERROR", []))).toMatchObject({ code: 422 });
	});

	it("answers 503 when the service a route needs is gone", () => {
		expect(toHttpError(new Errors.ServiceNotFoundError({ action: "manager.list" }))).toMatchObject({
			code: 503,
			type: "SERVICE_NOT_AVAILABLE"
		});
		expect(
			toHttpError(new Errors.ServiceNotAvailableError({ action: "manager.list", nodeID: "pi" }))
		).toMatchObject({ code: 503 });
	});

	it("answers a full bulkhead queue 503 SERVER_BUSY with when to retry, not 429 (a client's rate limit)", () => {
		const e = toHttpError(new Errors.QueueIsFullError({ action: "monitoring.data", nodeID: "n1" }));
		expect(e).toMatchObject({ code: 503, type: "SERVER_BUSY", data: { action: "monitoring.data", retryAfter: 1 } });
	});

	it("hides the message of an unexpected error (it may carry SQL or paths)", () => {
		const e = toHttpError(new Error('relation "secret_table" does not exist'));
		expect(e).toMatchObject({ code: 500, type: "INTERNAL_ERROR", message: "Internal error" });
	});

	it("keeps the status of body-parser errors (too large, malformed JSON)", () => {
		const tooLarge = Object.assign(new Error("request entity too large"), {
			status: 413,
			type: "entity.too.large"
		});
		expect(toHttpError(tooLarge)).toMatchObject({ code: 413, type: "ENTITY_TOO_LARGE" });
	});
});
