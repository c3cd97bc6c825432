import { describe, expect, it } from "vitest";
import { authLevelOf, callerOf, mayAccessOwner, ownerCondition } from "../../mixins/authorization";

const user = { id: 2, email: "a@b.c", is_admin: false };
const admin = { id: 1, email: "root@b.c", is_admin: true };

describe("the authorization policy", () => {
	it("admins and service calls see every device, users only their own, nobody's devices are admin only", () => {
		expect(mayAccessOwner(admin, null)).toBe(true);
		expect(mayAccessOwner(null, 7)).toBe(true);
		expect(mayAccessOwner(user, 2)).toBe(true);
		expect(mayAccessOwner(user, 3)).toBe(false);
		expect(mayAccessOwner(user, null)).toBe(false);
	});

	it("builds one owner filter for list queries (none for admins and services)", () => {
		const values: unknown[] = [];
		const add = (v: unknown) => `$${values.push(v)}`;
		expect(ownerCondition(user, "dev.owner", add)).toBe("dev.owner = $1");
		expect(values).toEqual([2]);
		expect(ownerCondition(admin, "dev.owner", add)).toBeNull();
		expect(ownerCondition(null, "dev.owner", add)).toBeNull();
	});

	it("reads the access level from the action, failing closed on a typo", () => {
		expect(authLevelOf({ name: "x.y" })).toBe("user");
		expect(authLevelOf({ name: "x.y", auth: "public" })).toBe("public");
		expect(authLevelOf({ name: "x.y", auth: "Admin" })).toBe("admin");
		expect(authLevelOf({ name: "gateway.metrics" }, false)).toBe("public");
		expect(authLevelOf({ name: "gateway.metrics" }, true)).toBe("admin");
	});

	it("a call without a user is a service's own call", () => {
		expect(callerOf({ meta: {} })).toBeNull();
		expect(callerOf({ meta: { user: user } })).toEqual(user);
	});
});
