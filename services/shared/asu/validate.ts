/**
 * Validation of a build request against the release metadata, in upstream's order and with
 * its texts (asu/routers/api.py validate_request). Returns the canonical request (profile id,
 * packages from packages_versions, "+" stripped) or the 400 detail.
 */
import type { BuildRequest } from "../contracts/builds";
import { branchOf, BRANCHES, type ReleaseMetadata } from "./metadata";
import { keysOf } from "./ordered-json";

export interface ValidationOptions {
	allowDefaults: boolean;
	repositoryAllowList: string[];
}

export type Validation = { ok: true; request: BuildRequest } | { ok: false; detail: string };

/** is_repo_allowed: same scheme and host, path under an allowed prefix. */
export function isRepoAllowed(url: string, allowList: string[]): boolean {
	let u: URL;
	try {
		u = new URL(url);
	} catch {
		return false;
	}
	return allowList.some(a => {
		try {
			const p = new URL(a);
			return (
				u.protocol === p.protocol &&
				u.hostname === p.hostname &&
				u.pathname.startsWith(p.pathname.replace(/\/+$/, "") + "/")
			);
		} catch {
			return false;
		}
	});
}

export async function validateRequest(
	meta: ReleaseMetadata,
	input: BuildRequest,
	opts: ValidationOptions
): Promise<Validation> {
	const req: BuildRequest = { ...input };
	if (req.defaults && !opts.allowDefaults) return { ok: false, detail: "Handling `defaults` not enabled on server" };
	for (const k of keysOf(req.repositories)) {
		const url = req.repositories[k];
		if (!isRepoAllowed(url, opts.repositoryAllowList))
			return { ok: false, detail: `Repository not allowed: ${url}` };
	}
	if (req.distro !== "openwrt") return { ok: false, detail: `Unsupported distro: ${req.distro}` };
	if (!(branchOf(req.version) in BRANCHES)) return { ok: false, detail: `Unsupported branch: ${req.version}` };
	const { versions } = await meta.versions();
	if (!versions.includes(req.version)) return { ok: false, detail: `Unsupported version: ${req.version}` };

	const versioned = keysOf(req.packages_versions);
	req.packages = (versioned.length ? versioned : req.packages).map(p => (p.startsWith("+") ? p.slice(1) : p));

	const targets = await meta.targets(req.version);
	if (!(req.target in targets)) {
		return {
			ok: false,
			detail:
				`Unsupported target: ${req.target}. The requested target was either dropped, is still being ` +
				`built or is not supported by the selected version. Please check the forums or try again ` +
				`later.`
		};
	}
	const aliases = await meta.profileAliases(req.version, req.target);
	let profile = aliases.get(req.profile);
	// Targets with one "generic" profile (x86, armsr) accept any board name.
	if (!profile && aliases.size > 0 && [...new Set(aliases.values())].length === 1 && aliases.has("generic"))
		profile = "generic";
	if (!profile) {
		return {
			ok: false,
			detail:
				`Unsupported profile: ${req.profile}. The requested profile was either dropped or never ` +
				`existed. Please check the forums for more information.`
		};
	}
	req.profile = profile;
	return { ok: true, request: req };
}
