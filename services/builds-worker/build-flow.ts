/**
 * The build of one request, the same for every builder (upstream asu/build.py `_build`):
 * make info -> revision check -> package changes -> make manifest -> version check ->
 * make image -> copy into the store -> profiles.json -> sha256 of every image recomputed
 * from the stored file (clients verify their download against it).
 */
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { packagesHash } from "../shared/asu/hash";
import { buildAt } from "../shared/asu/metadata";
import { keysOf } from "../shared/asu/ordered-json";
import { applyPackageChanges } from "../shared/asu/package-changes";
import { diffPackages } from "../shared/asu/prepare";
import { BuildFailure } from "../shared/asu/queue";
import type { BuildMeta, BuildRequest } from "../shared/contracts/builds";
import type { Builder, BuildEnv } from "./builders/types";

export const INSTALLABLE_TYPES = ["sysupgrade", "factory", "combined", "combined-efi", "sdcard"];
export const SIMULATED_NOTE = "# simulated ImageBuilder: test images, not firmware";

/** check_package_errors: the packages opkg/apk could not install or found conflicting. */
export function packageErrors(stderr: string): string {
	const missing = new Set(
		[
			...stderr.matchAll(/Cannot install package ([^ ]+)\./g),
			...stderr.matchAll(/ ([^ ]+) \(no such package\)/g)
		].map(m => m[1])
	);
	const conflicts = new Set<string>();
	for (const m of stderr.matchAll(/\n +([^:\n]+):\n +conflicts: ([^[]+)/g)) {
		conflicts.add(m[1]);
		conflicts.add(m[2]);
	}
	for (const re of [
		/check_data_file_clashes: Package ([^ ]+) wants to/g,
		/is already provided by package {2}\* ([^ ]+)$/gm,
		/\* check_conflicts_for:.+ ([^ ]+)(?: \*|:)$/gm,
		/ERROR: ([^ ]+): trying to overwrite/g,
		/trying to overwrite .* owned by ([^ ]+)\./g
	]) {
		for (const m of stderr.matchAll(re)) conflicts.add(m[1]);
	}
	for (const c of conflicts) missing.delete(c);
	let list = missing.size || conflicts.size ? ":" : "";
	if (missing.size) list += ` missing (${[...missing].sort().join(", ")})`;
	if (conflicts.size) list += ` conflicts (${[...conflicts].sort().join(", ")})`;
	return `Impossible package selection${list}`;
}

/** parse_manifest: "name - version" (opkg) or "name version" (apk). */
export function parseManifest(text: string): Record<string, string> {
	const sep = text.includes(" - ") ? " - " : " ";
	const out: Record<string, string> = {};
	for (const line of text.split("\n")) {
		if (!line) continue;
		const i = line.indexOf(sep);
		if (i > 0) out[line.slice(0, i)] = line.slice(i + sep.length);
	}
	return out;
}

/** usign key fingerprint (bytes 2..10 of the key, hex). */
export function usignFingerprint(key: string): string {
	const raw = Buffer.from(key.trim().split("\n").pop() ?? "", "base64");
	return raw.subarray(2, 10).toString("hex");
}

/** merge_repositories: opkg `src/gz <name> <url>` lines (plus the IB's own feed) or apk URLs. */
export function mergeRepositories(base: string, repos: Record<string, string>, apk: boolean): string {
	const lines = base.split("\n").filter(l => l.trim());
	for (const name of Object.keys(repos).sort()) lines.push(apk ? repos[name] : `src/gz ${name} ${repos[name]}`);
	if (!apk) {
		if (!lines.some(l => l.includes("src imagebuilder file:packages")))
			lines.push("src imagebuilder file:packages");
		if (!lines.some(l => l.includes("option check_signature"))) lines.push("option check_signature");
	}
	return lines.join("\n") + "\n";
}

/** BIN_DIR/profiles.json as an ImageBuilder writes it. */
interface BuiltProfiles {
	profiles?: Record<string, { images?: Array<{ name: string; sha256: string; type: string }>; [k: string]: unknown }>;
	source_date_epoch?: number;
	[k: string]: unknown;
}

export interface BuildInput {
	request: BuildRequest;
	requestHash: string;
	builder: Builder;
	storeDir: string;
	signal: AbortSignal;
	setMeta(meta: Partial<BuildMeta>): Promise<void>;
	/** The request came prepared (its package list is final). */
	skipPackageChanges?: boolean;
}

export async function runBuild(input: BuildInput): Promise<Record<string, unknown>> {
	const { request: req, requestHash, builder } = input;
	const progress = buildProgress(input);
	await progress.set({});
	await progress.set({ imagebuilder_status: "container_setup" });
	const env = await openBuilder(input, progress);
	const binDir = path.join(input.storeDir, requestHash);
	let built: Built;
	try {
		built = await buildInEnv(input, env, progress, binDir);
	} finally {
		await env.close().catch(() => undefined);
	}
	const { top, profile } = await readBuiltProfiles(binDir, req.profile, progress);
	const result: Record<string, unknown> = {
		...top,
		manifest: built.manifest,
		...profile,
		id: req.profile,
		bin_dir: requestHash,
		build_cmd_packages: built.buildCmdPackages,
		build_at: buildAt(top.source_date_epoch),
		detail: "done",
		build_cmd: built.buildCmd,
		stdout: progress.out.stdout,
		stderr: progress.out.stderr
	};
	if (builder.simulated) result.simulated = true;
	await progress.set({ imagebuilder_status: "done", detail: "done" });
	return result;
}

/** What the ImageBuilder steps produced, for the result. */
interface Built {
	/** The image command as shown (with the simulated note when simulated). */
	buildCmd: string[];
	buildCmdPackages: string[];
	manifest: Record<string, string>;
}

/**
 * The build's metadata as clients poll it (merged on every change), the output of the last
 * step, and `fail`, which records both before it throws the BuildFailure.
 */
function buildProgress(input: BuildInput) {
	const meta: Partial<BuildMeta> = { detail: "init", imagebuilder_status: "init", request: input.request };
	const progress = {
		out: { stdout: "", stderr: "" },
		async set(m: Partial<BuildMeta>): Promise<void> {
			Object.assign(meta, m);
			await input.setMeta(meta);
		},
		async fail(message: string): Promise<never> {
			const { stdout, stderr } = progress.out;
			await progress.set({ detail: `Error: ${message}`, imagebuilder_status: "failed", stdout, stderr });
			throw new BuildFailure(`Error: ${message}`, stdout, stderr);
		}
	};
	return progress;
}
type Progress = ReturnType<typeof buildProgress>;

/** The builder's environment; a builder's own BuildFailure (e.g. no such ImageBuilder) is recorded as the build's. */
async function openBuilder(input: BuildInput, progress: Progress): Promise<BuildEnv> {
	try {
		return await input.builder.open(input.request, input.requestHash, input.signal);
	} catch (err) {
		if (!(err instanceof BuildFailure)) throw err;
		progress.out = { stdout: err.stdout, stderr: err.stderr };
		return progress.fail(err.message.replace(/^Error: /, ""));
	}
}

/** One ImageBuilder command; its output becomes the build's last output (shown on failure). */
async function execStep(env: BuildEnv, argv: string[], signal: AbortSignal, progress: Progress) {
	const r = await env.exec(argv, { signal });
	if (signal.aborted) throw signal.reason ?? new Error("build aborted");
	progress.out = { stdout: r.stdout, stderr: r.stderr };
	await progress.set({ stdout: r.stdout, stderr: r.stderr });
	return r;
}

/**
 * make info -> revision check -> package changes -> make manifest -> version check -> make image,
 * then the images copied into the store at `binDir`.
 */
async function buildInEnv(input: BuildInput, env: BuildEnv, progress: Progress, binDir: string): Promise<Built> {
	const { request: req, builder, signal } = input;
	await injectFiles(env, req);
	const exec = (argv: string[]) => execStep(env, argv, signal, progress);
	const info = await exec(["make", "info"]);
	await progress.set({ imagebuilder_status: "validate_revision" });
	const { revision, defaultPackages } = parseInfo(info.stdout, req.profile);
	if (!revision) return await progress.fail(`Could not set up ImageBuilder (returncode=${info.code})`);
	if (req.version_code && revision !== req.version_code)
		return await progress.fail(`Received incorrect version ${revision} (requested ${req.version_code})`);

	if (!input.skipPackageChanges) applyPackageChanges(req);
	const buildCmdPackages = req.diff_packages ? diffPackages(req.packages, defaultPackages) : req.packages;

	await progress.set({ imagebuilder_status: "validate_manifest" });
	const packagesArg = `PACKAGES=${buildCmdPackages.join(" ")}`;
	const m = await exec(["make", "manifest", `PROFILE=${req.profile}`, packagesArg, "STRIP_ABI=1"]);
	if (m.code !== 0) return await progress.fail(packageErrors(m.stderr));
	const manifest = parseManifest(m.stdout);
	const mismatch = versionMismatch(req, manifest);
	if (mismatch) return await progress.fail(mismatch);

	const buildCmd = imageCommand(req, env, packagesArg, manifest);
	const shownCmd = builder.simulated ? [...buildCmd, SIMULATED_NOTE] : buildCmd;
	await progress.set({ imagebuilder_status: "building_image", build_cmd: shownCmd });
	const img = await exec(buildCmd);
	if (/is too big|out of space\?/.test(img.stderr))
		return await progress.fail("Selected packages exceed device storage");
	if (img.code !== 0) return await progress.fail("Error while building firmware. See stdout/stderr");
	await fs.rm(binDir, { recursive: true, force: true });
	await env.copyOut(binDir);
	return { buildCmd: shownCmd, buildCmdPackages, manifest };
}

/** From `make info`: the ImageBuilder's revision, and the default plus the profile's own packages. */
function parseInfo(stdout: string, profile: string): { revision: string | undefined; defaultPackages: Set<string> } {
	const words = (s: string | undefined) => (s ?? "").split(/\s+/).filter(Boolean);
	const escaped = profile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
	const profilePkgs = new RegExp(`${escaped}:\\n    .+\\n    Packages: (.*?)\\n`).exec(stdout)?.[1];
	return {
		revision: /Current Revision: "(r.+)"/.exec(stdout)?.[1],
		defaultPackages: new Set([...words(/Default Packages: (.*)\n/.exec(stdout)?.[1]), ...words(profilePkgs)])
	};
}

/** A requested package version the manifest does not have, as the failure message (null: all match). */
function versionMismatch(req: BuildRequest, manifest: Record<string, string>): string | null {
	for (const pkg of keysOf(req.packages_versions)) {
		if (!(pkg in manifest)) return `Impossible package selection: ${pkg} not in manifest`;
		if (req.packages_versions[pkg] !== manifest[pkg])
			return (
				`Impossible package selection: ${pkg} version not as requested: ` +
				`${req.packages_versions[pkg]} vs. ${manifest[pkg]}`
			);
	}
	return null;
}

/** `make image` with the request's options; EXTRA_IMAGE_NAME names the package set (upstream's image names). */
function imageCommand(req: BuildRequest, env: BuildEnv, packagesArg: string, manifest: Record<string, string>) {
	const cmd = [
		"make",
		"image",
		`PROFILE=${req.profile}`,
		packagesArg,
		`EXTRA_IMAGE_NAME=${packagesHash(Object.keys(manifest)).slice(0, 12)}`,
		`BIN_DIR=${env.binDir}`
	];
	if (req.defaults) cmd.push(`FILES=${env.filesDir}`);
	if (req.rootfs_size_mb) cmd.push(`ROOTFS_PARTSIZE=${req.rootfs_size_mb}`);
	if (req.filesystem) cmd.push(`ROOTFS_FILESYSTEM=${req.filesystem}`);
	return cmd;
}

/** The stored profiles.json: its top level and the built profile, with every image's sha256 recomputed. */
async function readBuiltProfiles(binDir: string, profileId: string, progress: Progress) {
	const json = await fs.readFile(path.join(binDir, "profiles.json"), "utf8").catch(() => null);
	if (json == null) return progress.fail("No JSON file found");
	const content = JSON.parse(json) as BuiltProfiles;
	const profile = content.profiles?.[profileId];
	if (!profile) return progress.fail("Profile not found in JSON file");
	// What a client downloads is what it checks: the digest of the stored file, not the builder's claim.
	for (const image of profile.images ?? []) {
		const data = await fs.readFile(path.join(binDir, image.name)).catch(() => null);
		if (data) image.sha256 = crypto.createHash("sha256").update(data).digest("hex");
	}
	const { profiles: _profiles, ...top } = content;
	return { top, profile };
}

async function injectFiles(env: BuildEnv, req: BuildRequest): Promise<void> {
	const files: Record<string, string> = {};
	req.repository_keys.forEach((key, i) => {
		if (key.trim().startsWith("-----BEGIN")) files[`keys/custom-${i}.pem`] = key;
		else {
			const fp = usignFingerprint(key);
			files[`keys/${fp}`] = `untrusted comment: ${fp}\n${key}`;
		}
	});
	if (keysOf(req.repositories).length) {
		const apkBase = await env.readFile("repositories");
		const apk = apkBase != null;
		const name = apk ? "repositories" : "repositories.conf";
		const base = req.repositories_mode === "append" ? ((apk ? apkBase : await env.readFile(name)) ?? "") : "";
		files[name] = mergeRepositories(base, req.repositories, apk);
	}
	if (req.defaults) files["asu-files/etc/uci-defaults/99-asu-defaults"] = req.defaults;
	if (Object.keys(files).length) await env.putFiles(files);
}
