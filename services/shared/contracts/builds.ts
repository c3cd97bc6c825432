/**
 * Contracts of the builds area (the OpenWrt ASU-compatible services): action names, the
 * build request, the job states and the answers the public ASU paths give.
 */

/** Actions the gateway's ASU routes call (all `auth: "public"`: no ASU client sends a token). */
export const BUILDS_ACTIONS = {
	prepare: "builds-prepare.prepare",
	build: "builds.build",
	status: "builds.status",
	methodNotAllowed: "builds.methodNotAllowed",
	stats: "builds.stats",
	statsView: "builds.statsView",
	revision: "builds.revision",
	redirect: "builds.redirect",
	json: "builds.json",
	store: "builds.store",
	upstream: "builds.upstream",
	recent: "builds.recent"
} as const;

export const FILESYSTEMS = ["squashfs", "ext4", "ubifs", "erofs", "jffs2", "jffs2-nand", "targz", "cpiogz"] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

/** Upstream's BuildRequest (asu/build_request.py) with its defaults applied. */
export interface BuildRequest {
	distro: string;
	version: string;
	version_code: string;
	target: string;
	profile: string;
	packages: string[];
	/** Key order as sent (see ordered-json.ts). */
	packages_versions: Record<string, string>;
	diff_packages: boolean;
	defaults: string | null;
	rootfs_size_mb: number | null;
	filesystem: Filesystem | null;
	/** Key order as sent: it is part of the request hash. */
	repositories: Record<string, string>;
	repositories_mode: "append" | "replace";
	repository_keys: string[];
	client: string | null;
}

/** `imagebuilder_status` values, in build order; LuCI throws on any value it does not know. */
export const IMAGEBUILDER_STATUS = [
	"init",
	"container_setup",
	"validate_revision",
	"validate_manifest",
	"building_image",
	"done",
	"failed"
] as const;
export type ImagebuilderStatus = (typeof IMAGEBUILDER_STATUS)[number];

/** What a running job publishes about itself (upstream's job.meta). */
export interface BuildMeta {
	imagebuilder_status: ImagebuilderStatus;
	detail: string;
	request?: BuildRequest;
	stdout?: string;
	stderr?: string;
	build_cmd?: string[];
}

export type JobState = "queued" | "started" | "done" | "failed";

/** A job as the queue reports it, whatever queue it is (BullMQ or in-process). */
export interface JobView {
	id: string;
	state: JobState;
	/** Jobs ahead of this one (queued only; 0 = next). */
	position: number;
	meta: Partial<BuildMeta>;
	/** The finished build (done only). */
	result?: Record<string, unknown>;
	/** "Error: …" (failed only). */
	failedReason?: string;
	enqueuedAt: number;
	finishedAt?: number;
}

/** Job data on the queue: the request as ordered JSON (repositories keep their order) and its TTLs. */
export interface BuildJobData {
	request: string;
	resultTtlS: number;
	failureTtlS: number;
	client: string;
	/** Sent prepared (POST /api/v1/build?skip_package_resolution=true): package changes are already applied. */
	prepared?: boolean;
}

/** Upstream TTLs (asu/config.py): results 30 min with defaults, 7 d with versions, 24 h otherwise; failures 1 h. */
export const TTL = { defaultsS: 30 * 60, versionedS: 7 * 86_400, unversionedS: 86_400, failureS: 3600 } as const;

/** One change prepare (or the worker) made to the package list. */
export interface PackageChange {
	type: "migration" | "addition" | "removal";
	action: "replace" | "add" | "remove";
	package?: string;
	from_package?: string;
	to_package?: string;
	reason: string;
	automatic: boolean;
}

/** An ASU answer: body (its `status` mirrors the HTTP code), code, headers. */
export interface AsuAnswer {
	status: number;
	body: unknown;
	headers?: Record<string, string>;
}
