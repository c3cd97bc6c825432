/** Unknown query parameters (services/gateway/query-check.ts). */
import { describe, expect, it } from "vitest";
import { rejectUnknownQuery, unknownQueryParams } from "../../services/gateway/query-check";

describe("unknown query parameters", () => {
	it("names what the action does not declare; an action without params takes none", () => {
		expect(unknownQueryParams({ status: {}, limit: {} }, { status: "open", stauts: "x" })).toEqual(["stauts"]);
		expect(unknownQueryParams({ status: {} }, { status: "open" })).toEqual([]);
		expect(unknownQueryParams(undefined, { a: "1" })).toEqual(["a"]);
		expect(unknownQueryParams({ $$strict: true }, { $$strict: "1" })).toEqual(["$$strict"]);
	});

	it("throws a 422 naming the parameter, after authentication for routes that need a token", () => {
		const req = (auth?: string, actionAuth?: string) =>
			({
				headers: auth ? { authorization: auth } : {},
				query: { stauts: "open" },
				$action: { auth: actionAuth, params: { status: {} } }
			}) as never;
		expect(() => rejectUnknownQuery(req("Bearer x"))).toThrow(
			expect.objectContaining({ code: 422, message: expect.stringMatching(/'stauts'.*takes status/) })
		);
		expect(() => rejectUnknownQuery(req())).not.toThrow();
		expect(() => rejectUnknownQuery(req(undefined, "public"))).toThrow(expect.objectContaining({ code: 422 }));
	});
});
