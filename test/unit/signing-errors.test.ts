/** Errors thrown on one node keep their code and type on another (FleetErrorRegenerator). */
import { Errors, ServiceBroker } from "moleculer";
import { describe, expect, it } from "vitest";
import {
	ConflictError,
	FleetErrorRegenerator,
	NotFoundError,
	TooManyRequestsError,
	toHttpError,
	UnauthorizedError
} from "../../services/shared/errors";

function roundTrip(err: Error): Error {
	const r = new FleetErrorRegenerator();
	r.init(new ServiceBroker({ logger: false }));
	// What the transporter carries is JSON.
	const plain = JSON.parse(JSON.stringify(r.extractPlainError(err)));
	return r.restore(plain, { sender: "other-node" });
}

describe("FleetErrorRegenerator", () => {
	it("restores the shared error classes as Moleculer errors with name, code, type and data", () => {
		for (const [err, code, type] of [
			[new UnauthorizedError("Invalid email or password", "INVALID_CREDENTIALS"), 401, "INVALID_CREDENTIALS"],
			[new ConflictError("A user with this email already exists"), 409, "CONFLICT"],
			[new NotFoundError("User", 5), 404, "NOT_FOUND"],
			[new TooManyRequestsError("slow down", 30), 429, "RATE_LIMITED"]
		] as const) {
			const back = roundTrip(err);
			expect(back).toBeInstanceOf(Errors.MoleculerError);
			expect(back).toMatchObject({ name: err.name, message: err.message, code, type });
			expect(toHttpError(back).code).toBe(code);
		}
		expect((roundTrip(new TooManyRequestsError("x", 30)) as any).data).toEqual({ retryAfter: 30 });
	});

	it("leaves Moleculer's own classes to Moleculer and plain crashes as 500", () => {
		const v = roundTrip(new Errors.ValidationError("bad", "VALIDATION_ERROR", [{ field: "x" }]));
		expect(v).toBeInstanceOf(Errors.ValidationError);
		const crash = roundTrip(new TypeError("x is undefined"));
		expect(crash).not.toBeInstanceOf(Errors.MoleculerError);
		expect(toHttpError(crash).code).toBe(500);
	});
});
