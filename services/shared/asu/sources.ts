/** The release-metadata source of a node: ASU_UPSTREAM_URL, ASU_UPSTREAM_DIR, or the shipped mirror. */
import type { BuildsEnv } from "../env";
import { ASU_MIRROR_DIR } from "../paths";
import { DirSource, ReleaseMetadata, UrlSource } from "./metadata";

export function metadataFor(env: BuildsEnv): ReleaseMetadata {
	if (env.upstreamUrl) return new ReleaseMetadata(new UrlSource(env.upstreamUrl), 5 * 60_000);
	return new ReleaseMetadata(new DirSource(env.upstreamDir ?? ASU_MIRROR_DIR));
}
