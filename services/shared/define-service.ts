/**
 * Typed service schemas. ServiceSchema's second type parameter is the `this` of the lifecycle
 * hooks, a bare Service by default, which knows nothing of the service's own state and methods:
 * every hook began with `const self = this as XThis`. `defineService<XThis>({ … })` checks the
 * schema with the service's own `this` (Moleculer calls the hooks on the instance that has that
 * state) and returns it as the plain schema the broker and the tests take.
 */
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";

export function defineService<This, S = ServiceSettingSchema>(schema: ServiceSchema<S, This>): ServiceSchema<S> {
	// The one place the hooks' `this` is widened back to Moleculer's default.
	return schema as unknown as ServiceSchema<S>;
}

/** The same for a mixin (a partial schema merged into services). */
export function defineMixin<This, S = ServiceSettingSchema>(
	schema: Partial<ServiceSchema<S, This>>
): Partial<ServiceSchema<S>> {
	return schema as unknown as Partial<ServiceSchema<S>>;
}
