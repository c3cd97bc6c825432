/**
 * A stand-in OpenWrt ImageBuilder: answers `make info`, `make manifest` and `make image` with
 * the output formats of a real one, from the release metadata (profiles.json and package
 * indexes), so the build flow runs unchanged against it. The images are not firmware: a
 * header naming the inputs, padded to a fixed size, so equal requests give equal sha256.
 *
 * Knobs: a package missing from the indexes fails like opkg/apk do; ROOTFS_PARTSIZE smaller
 * than the packages (SIM_PKG_KIB each) fails with "is too big"; `buildMs` slows `make image`.
 */
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { versionPath, type ProfilesJson, type ReleaseMetadata } from "../shared/asu/metadata";

export const SIM_PKG_KIB = 256;

export interface ExecResult {
	code: number;
	stdout: string;
	stderr: string;
}

export interface SimulatedIbOptions {
	meta: ReleaseMetadata;
	version: string;
	target: string;
	/** The IB's root: BIN_DIR and FILES are relative to it unless absolute. */
	root: string;
	imageKib: number;
	buildMs: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(signal.reason);
		const t = setTimeout(resolve, ms);
		signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
	});
}

/** apk from 25.x and in snapshots; opkg before. */
export function usesApk(version: string): boolean {
	const major = Number(version.split(".")[0]);
	return !Number.isFinite(major) || major >= 25;
}

export class SimulatedImageBuilder {
	constructor(private readonly o: SimulatedIbOptions) {}

	private async profiles(): Promise<ProfilesJson> {
		const pj = await this.o.meta.profilesJson(this.o.version, this.o.target);
		if (!pj)
			throw new Error(
				`no profiles.json for ${this.o.version} ${this.o.target} in ${this.o.meta.source.describe}`
			);
		return pj;
	}

	async exec(argv: string[], signal?: AbortSignal): Promise<ExecResult> {
		if (argv[0] !== "make")
			return { code: 127, stdout: "", stderr: `${argv[0]}: not found (simulated ImageBuilder runs make only)\n` };
		const goal = argv[1];
		const vars: Record<string, string> = {};
		for (const a of argv.slice(2)) {
			const i = a.indexOf("=");
			if (i > 0) vars[a.slice(0, i)] = a.slice(i + 1);
		}
		if (goal === "info") return this.info();
		if (goal === "manifest") return this.manifest(vars);
		if (goal === "image") return this.image(vars, signal);
		return { code: 2, stdout: "", stderr: `make: *** No rule to make target '${goal}'.  Stop.\n` };
	}

	private async info(): Promise<ExecResult> {
		const pj = await this.profiles();
		const lines = [
			`Current Target: "${pj.target}"`,
			`Current Architecture: "${pj.arch_packages.split("_")[0]}"`,
			`Current Revision: "${pj.version_code}"`,
			`Default Packages: ${pj.default_packages.join(" ")}`,
			"Available Profiles:",
			""
		];
		for (const [id, p] of Object.entries(pj.profiles)) {
			const t = (p.titles?.[0] ?? {}) as { vendor?: string; model?: string; variant?: string; title?: string };
			lines.push(
				`${id}:`,
				`    ${t.title ?? [t.vendor, t.model, t.variant].filter(Boolean).join(" ")}`,
				`    Packages: ${p.device_packages.join(" ")}`,
				"    hasImageMetadata: 1",
				`    SupportedDevices: ${(p.supported_devices ?? []).join(" ")}`
			);
		}
		return { code: 0, stdout: lines.join("\n") + "\n", stderr: "" };
	}

	/** Defaults + device packages + PACKAGES ("-pkg" removes); every name must be installable. */
	private async resolve(
		vars: Record<string, string>
	): Promise<{ ok: true; manifest: Map<string, string>; pj: ProfilesJson } | { ok: false; result: ExecResult }> {
		const pj = await this.profiles();
		const profile = vars.PROFILE ?? "";
		const p = pj.profiles[profile];
		if (!p)
			return {
				ok: false,
				result: {
					code: 2,
					stdout: "",
					stderr:
						`Profile "${profile}" does not exist!\nUse "make info" to get a list of available ` +
						`profile names.\n`
				}
			};
		const wanted = new Set([...pj.default_packages, ...p.device_packages]);
		for (const name of (vars.PACKAGES ?? "").split(/\s+/).filter(Boolean)) {
			if (name.startsWith("-")) wanted.delete(name.slice(1));
			else wanted.add(name);
		}
		const index = await this.o.meta.installable(this.o.version, this.o.target);
		const missing = [...wanted].filter(n => !(n in index));
		if (missing.length) {
			const stderr = usesApk(this.o.version)
				? `ERROR: unable to select packages:\n` +
					missing.map(m => `  ${m} (no such package):\n    required by: world[${m}]\n`).join("")
				: `Collected errors:\n` +
					missing.map(m => ` * opkg_install_cmd: Cannot install package ${m}.\n`).join("");
			return { ok: false, result: { code: 255, stdout: "", stderr } };
		}
		const manifest = new Map<string, string>();
		if ("kernel" in index) wanted.add("kernel");
		for (const n of [...wanted].sort()) manifest.set(n, index[n]);
		return { ok: true, manifest, pj };
	}

	private manifestText(manifest: Map<string, string>): string {
		const sep = usesApk(this.o.version) ? " " : " - ";
		return [...manifest].map(([n, v]) => `${n}${sep}${v}`).join("\n") + "\n";
	}

	private async manifest(vars: Record<string, string>): Promise<ExecResult> {
		const r = await this.resolve(vars);
		if (!r.ok) return r.result;
		return { code: 0, stdout: this.manifestText(r.manifest), stderr: "" };
	}

	/** The sha256 of the first-boot script in FILES (the request's `defaults`), written into each image; "" without. */
	private async defaultsHash(files: string | undefined): Promise<string> {
		if (!files) return "";
		const f = await fs
			.readFile(path.join(path.resolve(this.o.root, files), "etc/uci-defaults/99-asu-defaults"))
			.catch(() => Buffer.alloc(0));
		return crypto.createHash("sha256").update(f).digest("hex");
	}

	/** Image names as an ImageBuilder makes them: openwrt-[version-][extra-]target-subtarget-profile. */
	private imagePrefix(profile: string, extraName: string | undefined): string {
		const [t, s] = this.o.target.split("/");
		const snapshot = versionPath(this.o.version) === "snapshots";
		const extra = extraName ? `${extraName}-` : "";
		return `openwrt-${snapshot ? "" : `${this.o.version}-`}${extra}${t}-${s}-${profile}`;
	}

	/** An image of the configured size: zeros after a text header that says what it is (and is not). */
	private imageBody(header: string): Buffer {
		const body = Buffer.alloc(this.o.imageKib * 1024, 0);
		Buffer.from(header).copy(body, 0, 0, Math.min(header.length, body.length));
		return body;
	}

	private async image(vars: Record<string, string>, signal?: AbortSignal): Promise<ExecResult> {
		const r = await this.resolve(vars);
		if (!r.ok) return r.result;
		if (this.o.buildMs > 0) await sleep(this.o.buildMs, signal);
		const profile = vars.PROFILE;
		const p = r.pj.profiles[profile];
		const tooBig = rootfsTooBig(profile, r.manifest.size * SIM_PKG_KIB, vars.ROOTFS_PARTSIZE);
		if (tooBig) return tooBig;
		const binDir = path.resolve(this.o.root, vars.BIN_DIR ?? "bin");
		await fs.mkdir(binDir, { recursive: true });
		const filesHash = await this.defaultsHash(vars.FILES);
		const prefix = this.imagePrefix(profile, vars.EXTRA_IMAGE_NAME);
		const images = [];
		for (const img of p.images) {
			if (vars.ROOTFS_FILESYSTEM && img.filesystem !== vars.ROOTFS_FILESYSTEM) continue;
			const ext = img.name.slice(img.name.indexOf(`-${img.type}`) + img.type.length + 1);
			const name = `${prefix}-${img.filesystem}-${img.type}${ext}`;
			const header = [
				"FLEETMESH SIMULATED OPENWRT IMAGE - NOT FIRMWARE, DO NOT FLASH",
				`version=${this.o.version} revision=${r.pj.version_code} target=${this.o.target} profile=${profile}`,
				`image=${img.filesystem}-${img.type} rootfs_size_mb=${vars.ROOTFS_PARTSIZE ?? "default"} ` +
					`files=${filesHash || "none"}`,
				`manifest=${[...r.manifest].map(([n, v]) => `${n}=${v}`).join(",")}`,
				""
			].join("\n");
			const body = this.imageBody(header);
			await fs.writeFile(path.join(binDir, name), body);
			const sha256 = crypto.createHash("sha256").update(body).digest("hex");
			images.push({ filesystem: img.filesystem, name, sha256, sha256_unsigned: sha256, type: img.type });
		}
		await fs.writeFile(path.join(binDir, `${prefix}.manifest`), this.manifestText(r.manifest));
		await fs.writeFile(
			path.join(binDir, "sha256sums"),
			images.map(i => `${i.sha256} *${i.name}`).join("\n") + "\n"
		);
		const { profiles: _all, ...top } = r.pj;
		const profilesJson = { ...top, profiles: { [profile]: { ...p, image_prefix: prefix, images } } };
		await fs.writeFile(path.join(binDir, "profiles.json"), JSON.stringify(profilesJson, null, 1));
		const stdout =
			images.map(i => `Generating ${i.name}\n`).join("") +
			`Building images for ${this.o.target} - ${profile} (simulated)\n`;
		return { code: 0, stdout, stderr: "" };
	}
}

/** make image's failure when the packages (SIM_PKG_KIB each) do not fit ROOTFS_PARTSIZE (MiB); null when they do. */
function rootfsTooBig(profile: string, sizeKib: number, partSizeMb: string | undefined): ExecResult | null {
	const partKib = Number(partSizeMb) * 1024;
	if (!partSizeMb || !(partKib < sizeKib)) return null;
	return {
		code: 1,
		stdout: "",
		stderr: `Image ${profile}-rootfs is too big: ${sizeKib} KiB > ${partKib} KiB (out of space?)\n`
	};
}
