/**
 * Prepare: everything about a build that needs no ImageBuilder. Validates the request, applies
 * the package changes, resolves `diff_packages` against the release's default and device
 * packages, and answers the request to build (with its hash) and the list of changes, so the
 * user sees what will change before anything is queued.
 */
import type { AsuAnswer, BuildRequest, PackageChange } from "../contracts/builds";
import { requestHash } from "./hash";
import type { ReleaseMetadata } from "./metadata";
import { withOrder } from "./ordered-json";
import { applyPackageChanges } from "./package-changes";
import { parseBuildRequest } from "./request";
import { validateRequest, type ValidationOptions } from "./validate";

/** upstream util.diff_packages: removals ("-pkg", sorted) for defaults not requested, then the request. */
export function diffPackages(requested: string[], defaults: Set<string>): string[] {
	const req = new Set(requested);
	const removals = new Set([...defaults].filter(p => !req.has(p)).map(p => `-${p}`.replace("--", "-")));
	return [...[...removals].sort(), ...requested];
}

export interface Prepared {
	request: BuildRequest;
	changes: PackageChange[];
	originalPackages: string[];
	resolvedPackages: string[];
}

/** Body -> 422 / 400 answer, or the prepared request. */
export async function prepareRequest(
	meta: ReleaseMetadata,
	body: unknown,
	opts: ValidationOptions
): Promise<AsuAnswer | Prepared> {
	const parsed = parseBuildRequest(body);
	if (!parsed.ok) return { status: 422, body: { detail: parsed.detail } };
	const v = await validateRequest(meta, parsed.request, opts);
	if (!v.ok) return { status: 400, body: { detail: v.detail, status: 400 } };
	const req = v.request;
	const originalPackages = [...req.packages];
	const changes = applyPackageChanges(req);
	let resolved = req.packages;
	if (req.diff_packages) {
		const pj = await meta.profilesJson(req.version, req.target);
		const defaults = new Set([
			...(pj?.default_packages ?? []),
			...(pj?.profiles[req.profile]?.device_packages ?? [])
		]);
		resolved = diffPackages(req.packages, defaults);
		for (const p of resolved) {
			if (p.startsWith("-"))
				changes.push({
					type: "removal",
					action: "remove",
					package: p.slice(1),
					reason: "a default package not in the requested list (diff_packages)",
					automatic: true
				});
		}
	}
	// The resolved list is absolute and carries its removals: built as it is (diff_packages false).
	const request: BuildRequest = {
		...req,
		packages: resolved,
		packages_versions: withOrder({}, []),
		diff_packages: false
	};
	return { request, changes, originalPackages, resolvedPackages: resolved };
}

export function isAnswer(x: AsuAnswer | Prepared): x is AsuAnswer {
	return (x as AsuAnswer).status !== undefined;
}

/** The 200 body of POST /api/v1/build/prepare. */
export function preparedBody(
	p: Prepared,
	original: { diff_packages: boolean },
	cached: { available: boolean; jobId: string | null }
) {
	const hash = requestHash(p.request);
	return {
		status: "prepared",
		original_packages: p.originalPackages,
		original_diff_packages: original.diff_packages,
		resolved_packages: p.resolvedPackages,
		changes: p.changes,
		prepared_request: p.request,
		request_hash: hash,
		cache_available: cached.available,
		cached_job_id: cached.jobId
	};
}
