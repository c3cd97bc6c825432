/**
 * Compile-time checks of types/moleculer.d.ts, run by the whole-tree type check
 * (npm run typecheck): each @ts-expect-error must meet an error, or tsc fails.
 */
import type { ServiceSchema } from "moleculer";

export const checked: ServiceSchema = {
	name: "typecheck-only",
	actions: {
		open: { auth: "public", handler: () => "ok" },
		login: { auth: "public", rateLimit: "auth", handler: () => "ok" },
		// @ts-expect-error a misspelt level is not an AuthLevel
		misspelt: { auth: "amdin", handler: () => "never" },
		// @ts-expect-error rateLimit names a limiter, and there is only "auth"
		unknownLimiter: { rateLimit: "everything", handler: () => "never" }
	}
};
