/**
 * The one authorization policy of fleetmesh: who may call an action, and which devices a caller
 * may see. Every service uses it; nothing else decides access.
 *
 * How a service uses it
 * ---------------------
 * 1. Each action says who may call it from outside the mesh, with the action property
 *      auth: "public" | "user" | "admin"        (absent = "user"; an unknown value = "admin")
 *    The gateway authenticates (token → `ctx.meta.user`, the caller's *current* role) and refuses
 *    by this level before the call; `AuthorizationMiddleware` (installed on every node by
 *    moleculer.config.ts) checks it again where the action runs, so a socket call, a nested
 *    `ctx.call` carrying the user, or a call through another gateway cannot skip it.
 * 2. Devices: a user sees and manages only the devices it owns (`devices.owner` = its user id);
 *    an admin sees all; a device with no owner is admin only. A device the caller may not see is
 *    404 (never 403: no existence oracle).
 *      - one device:   `await requireDeviceAccess(ctx, deviceId)` → `{ id, owner, node_id, name, status }`
 *                      or a 404 NotFoundError (asks `manager.access` with the caller of `ctx`;
 *                      works from any node, the device registry need not be in your database).
 *      - a check:      `mayAccessOwner(callerOf(ctx), row.owner)`, when you have read the row yourself.
 *      - a list query: `ownerCondition(callerOf(ctx), "dev.owner", add)` → a SQL condition
 *                      (or null for admins and services) to AND into the WHERE clause.
 * 3. A call with no `ctx.meta.user` comes from another service over the authenticated mesh
 *    (or a timer): it is trusted and sees everything. So handlers that serve users must pass the
 *    caller on (`ctx.call(…)` does; `this.broker.call(…)` does not — use that only for
 *    the service's own work).
 */
import type { Context, Middleware } from "moleculer";
import { ForbiddenError, NotFoundError, UnauthorizedError } from "../services/shared/errors";

export type AuthLevel = "public" | "user" | "admin";

/** The caller of a request as the gateway put it in `ctx.meta.user` (role as of now, not as of the token). */
export interface Caller {
	id: number;
	email: string;
	is_admin: boolean;
	/** Token id and expiry (seconds since the epoch), when the call came with a token. */
	jti?: string;
	exp?: number;
}

/** The action that answers "may this caller see device N" (the manager owns the registry). */
export const DEVICE_ACCESS_ACTION = "manager.access";

export interface DeviceAccess {
	id: number;
	owner: number | null;
	name: string;
	node_id: string | null;
	status: string;
}

/** The access level of an action; an unknown value counts as "admin" (fail closed). */
export function authLevelOf(action: { name?: string; auth?: unknown } | undefined, metricsAuth = true): AuthLevel {
	if (!action) return "user";
	if (action.name === "gateway.health" || action.name === "gateway.ready") return "public";
	if (action.name === "gateway.metrics") return metricsAuth ? "admin" : "public";
	const auth = action.auth;
	if (auth == null) return "user";
	if (auth === "public" || auth === "user" || auth === "admin") return auth;
	return "admin";
}

/** The user behind a call, or null for a call from another service (trusted, sees all). */
export function callerOf(ctx: Pick<Context, "meta">): Caller | null {
	const u = (ctx.meta as { user?: Caller | null } | undefined)?.user;
	return u && typeof u.id === "number" ? u : null;
}

/** The caller, or 401 when the call carries none (for actions that only make sense for a user). */
export function requireCaller(ctx: Pick<Context, "meta">): Caller {
	const c = callerOf(ctx);
	if (!c) throw new UnauthorizedError();
	return c;
}

export function isAdmin(caller: Caller | null): boolean {
	return caller == null || caller.is_admin === true;
}

/** May this caller see/manage a device with this owner? Services (null caller) and admins: always. */
export function mayAccessOwner(caller: Caller | null, owner: number | string | null | undefined): boolean {
	if (isAdmin(caller)) return true;
	if (owner == null) return false;
	return Number(owner) === caller!.id;
}

/**
 * The owner filter of list queries: a SQL condition on `column` (an integer owner column), or
 * null when the caller sees everything. `add` appends a parameter and returns its placeholder.
 */
export function ownerCondition(caller: Caller | null, column: string, add: (value: unknown) => string): string | null {
	if (isAdmin(caller)) return null;
	return `${column} = ${add(caller!.id)}`;
}

/** 404 in the shape every device route uses, for a device that does not exist or is not the caller's. */
export function deviceNotFound(id: number): NotFoundError {
	return new NotFoundError("Device", id);
}

/**
 * Resolves a device for the caller of `ctx`, or throws 404. Usable from any service on any node:
 * it asks the manager (`manager.access`) with the caller carried by `ctx`.
 */
export function requireDeviceAccess(ctx: Context, deviceId: number): Promise<DeviceAccess> {
	return ctx.call<DeviceAccess, { id: number }>(DEVICE_ACCESS_ACTION, { id: deviceId });
}

/**
 * Moleculer middleware: where an action runs, refuse a caller below the action's `auth` level.
 * A call carrying a user (from a gateway, a socket or a nested `ctx.call`) is checked; a call
 * without one is a service's own call over the authenticated mesh.
 */
export function AuthorizationMiddleware(): Middleware {
	return {
		name: "Authorization",
		localAction(next: (ctx: Context) => Promise<unknown>, action: { name?: string; auth?: unknown }) {
			const level = authLevelOf(action, true);
			if (level !== "admin") return next;
			return function authorizedAction(ctx: Context) {
				const caller = callerOf(ctx);
				if (caller && caller.is_admin !== true)
					return Promise.reject(new ForbiddenError("Administrators only"));
				return next(ctx);
			};
		}
	} as unknown as Middleware;
}
