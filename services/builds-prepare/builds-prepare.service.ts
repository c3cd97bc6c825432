/**
 * builds-prepare: the stateless half of the build service (POST /api/v1/build/prepare).
 * Validates a request against the release metadata, applies the package changes and answers
 * the request to build, its hash and what changed, without Redis, a database or a builder:
 * cheap enough to run on many nodes. Whether the result is already built is asked of the
 * builds service when one is on the mesh (never required).
 */
import type { Context, Service } from "moleculer";
import type { ReleaseMetadata } from "../shared/asu/metadata";
import { stringifyOrdered } from "../shared/asu/ordered-json";
import { isAnswer, preparedBody, prepareRequest } from "../shared/asu/prepare";
import { parseBuildRequest } from "../shared/asu/request";
import { metadataFor } from "../shared/asu/sources";
import type { ValidationOptions } from "../shared/asu/validate";
import { fleetEnv } from "../shared/broker-env";
import { requestHash } from "../shared/asu/hash";
import { defineService } from "../shared/define-service";

type PrepareThis = Service & { meta: ReleaseMetadata; validation: ValidationOptions };
type Meta = { $statusCode?: number; $responseType?: string };

const BuildsPrepareService = defineService<PrepareThis>({
	name: "builds-prepare",

	actions: {
		prepare: {
			auth: "public",
			visibility: "published",
			async handler(this: PrepareThis, ctx: Context<{ body?: unknown }, Meta>) {
				const r = await prepareRequest(this.meta, ctx.params.body, this.validation);
				ctx.meta.$responseType = "application/json";
				if (isAnswer(r)) {
					ctx.meta.$statusCode = r.status;
					return stringifyOrdered(r.body);
				}
				const hash = requestHash(r.request);
				const cached = await ctx
					.call<{ available: boolean; jobId: string | null }, { hash: string }>(
						"builds.cached",
						{ hash },
						{ timeout: 1000, retries: 0 }
					)
					.catch(() => ({ available: false, jobId: null }));
				const original = parseBuildRequest(ctx.params.body);
				ctx.meta.$statusCode = 200;
				return stringifyOrdered(
					preparedBody(r, { diff_packages: original.ok ? original.request.diff_packages : false }, cached)
				);
			}
		}
	},

	created(this: PrepareThis) {
		const env = fleetEnv(this.broker).builds;
		this.meta = metadataFor(env);
		this.validation = { allowDefaults: env.allowDefaults, repositoryAllowList: env.repositoryAllowList };
	}
});

export default BuildsPrepareService;
