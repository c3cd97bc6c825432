import type { BuildsEnv } from "../../shared/env";
import type { ReleaseMetadata } from "../../shared/asu/metadata";
import { LocalBuilder } from "./local";
import { PodmanBuilder } from "./podman";
import { SimulatedBuilder } from "./simulated";
import type { Builder } from "./types";

/** The builder ASU_BUILDER names (null: none configured). */
export function createBuilder(env: BuildsEnv, meta: ReleaseMetadata): Builder | null {
	switch (env.builder) {
		case "simulated":
			return new SimulatedBuilder(meta, { imageKib: env.simImageKib, buildMs: env.simBuildMs });
		case "local":
			return new LocalBuilder(env.localIbDir);
		case "podman":
			return new PodmanBuilder({
				image: env.podmanImage,
				network: env.podmanNetwork,
				timeoutS: env.jobTimeoutS,
				url: env.podmanUrl
			});
		default:
			return null;
	}
}
