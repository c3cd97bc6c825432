/**
 * /json/v1/…: the metadata clients read (upstream asu/main.py): overview.json, branches.json,
 * latest.json, per-profile JSON, target index.json and <arch>-index.json.
 */
import { PACKAGE_CHANGES_LIST, type ReleaseMetadata } from "../shared/asu/metadata";
import { MAX_DEFAULTS_LENGTH, MAX_ROOTFS_SIZE_MB } from "../shared/asu/request";
import type { AsuAnswer } from "../shared/contracts/builds";

export interface ServerInfo {
	version: string;
	contact: string;
	allowDefaults: boolean;
	repositoryAllowList: string[];
	/** Where clients read profiles.json themselves (overview.upstream_url). */
	upstreamUrl: string;
}

const NOT_FOUND: AsuAnswer = { status: 404, body: { detail: "Not Found" } };

export async function overview(meta: ReleaseMetadata, server: ServerInfo) {
	return {
		latest: (await meta.versions()).latest,
		branches: await meta.branches(),
		upstream_url: server.upstreamUrl,
		server: {
			version: server.version,
			contact: server.contact,
			allow_defaults: server.allowDefaults,
			repository_allow_list: server.repositoryAllowList,
			max_custom_rootfs_size_mb: MAX_ROOTFS_SIZE_MB,
			max_defaults_length: MAX_DEFAULTS_LENGTH
		}
	};
}

export async function jsonRoute(meta: ReleaseMetadata, rel: string, server: ServerInfo): Promise<AsuAnswer> {
	if (rel === "overview.json") return { status: 200, body: await overview(meta, server) };
	if (rel === "latest.json") return { status: 200, body: { latest: (await meta.versions()).latest } };
	if (rel === "branches.json") return { status: 200, body: Object.values(await meta.branches()) };
	if (rel === "package_changes.json") return { status: 200, body: PACKAGE_CHANGES_LIST };
	let m = /^(.+)\/index\.json$/.exec(rel);
	if (m && /\/targets\/[^/]+\/[^/]+$/.test(m[1])) {
		const idx = await meta.targetIndex(m[1]);
		return idx ? { status: 200, body: idx } : NOT_FOUND;
	}
	m = /^(.+\/packages)\/([^/]+)-index\.json$/.exec(rel);
	if (m) return { status: 200, body: await meta.archIndex(m[1], m[2]) };
	m = /^(.+)\/targets\/([^/]+\/[^/]+)\/([^/]+)\.json$/.exec(rel);
	if (m) {
		const p = await meta.profileJson(m[1], m[2], m[3]);
		return p ? { status: 200, body: p } : NOT_FOUND;
	}
	return NOT_FOUND;
}
