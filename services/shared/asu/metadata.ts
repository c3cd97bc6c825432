/**
 * Release metadata: what upstream ASU reads from downloads.openwrt.org (.versions.json,
 * .targets.json, profiles.json, package indexes), here from a mirror directory
 * (ASU_UPSTREAM_DIR, the shipped fixture by default) or a server (ASU_UPSTREAM_URL).
 * Parsed files are kept for a minute, so validation costs no I/O on the hot path.
 */
import fs from "node:fs/promises";
import path from "node:path";

/** Package changes clients apply themselves (asu/config.py package_changes_list). */
export const PACKAGE_CHANGES_LIST: Array<{ source: string; target?: string; revision: number; mandatory?: boolean }> = [
	{ source: "firewall", target: "firewall4", revision: 18611 },
	{ source: "kmod-nft-nat6", revision: 20282, mandatory: true },
	{ source: "libustream-wolfssl", target: "libustream-mbedtls", revision: 21994 },
	{ source: "px5g-wolfssl", target: "px5g-mbedtls", revision: 21994 },
	{ source: "wpad-basic-wolfssl", target: "wpad-basic-mbedtls", revision: 21994 },
	{ source: "luci-app-diag-core", revision: 25984, mandatory: true },
	{ source: "auc", target: "owut", revision: 26792 },
	{ source: "luci-app-opkg", target: "luci-app-package-manager", revision: 27897 },
	{ source: "opkg", target: "apk-mbedtls", revision: 28056 }
];

export interface BranchConfig {
	path: string;
	enabled: boolean;
	snapshot: boolean;
	path_packages: "DEPRECATED";
	branch_off_rev?: number;
	package_changes: typeof PACKAGE_CHANGES_LIST;
}

function release(branchOffRev: number): BranchConfig {
	return {
		path: "releases/{version}",
		enabled: true,
		snapshot: false,
		path_packages: "DEPRECATED",
		branch_off_rev: branchOffRev,
		package_changes: PACKAGE_CHANGES_LIST.filter(c => c.revision <= branchOffRev)
	};
}

/** Upstream's branch table (asu/config.py). */
export const BRANCHES: Record<string, BranchConfig> = {
	SNAPSHOT: {
		path: "snapshots",
		enabled: true,
		snapshot: true,
		path_packages: "DEPRECATED",
		package_changes: PACKAGE_CHANGES_LIST
	},
	"25.12": release(32295),
	"24.10": release(27990),
	"23.05": release(23069),
	"22.03": release(19160),
	"21.02": release(15812)
};

/** get_branch: the branch a version belongs to ("24.10.2" -> "24.10", "23.05-SNAPSHOT" -> "23.05"). */
export function branchOf(version: string): string {
	if (version in BRANCHES) return version;
	if (version.endsWith("-SNAPSHOT")) return version.slice(0, version.lastIndexOf("-"));
	const i = version.lastIndexOf(".");
	return i < 0 ? version : version.slice(0, i);
}

/** The mirror path of a version: "releases/24.10.2" or "snapshots". */
export function versionPath(version: string): string | null {
	const b = BRANCHES[branchOf(version)];
	return b ? b.path.replace("{version}", version) : null;
}

export interface MetadataSource {
	/** A file of the mirror, or null when it does not exist. */
	read(rel: string): Promise<Buffer | null>;
	/** Where it comes from, for logs and errors. */
	readonly describe: string;
}

export class DirSource implements MetadataSource {
	constructor(readonly root: string) {}
	get describe() {
		return this.root;
	}
	/** The absolute path of a mirror file, or null when `rel` leaves the mirror. */
	resolve(rel: string): string | null {
		const root = path.resolve(this.root);
		const p = path.resolve(root, "." + path.posix.normalize("/" + rel));
		return p === root || p.startsWith(root + path.sep) ? p : null;
	}
	async read(rel: string): Promise<Buffer | null> {
		const p = this.resolve(rel);
		if (!p) return null;
		try {
			return await fs.readFile(p);
		} catch {
			return null;
		}
	}
}

export class UrlSource implements MetadataSource {
	constructor(
		readonly base: string,
		private readonly timeoutMs = 10_000
	) {}
	get describe() {
		return this.base;
	}
	async read(rel: string): Promise<Buffer | null> {
		const clean = path.posix.normalize("/" + rel).slice(1);
		if (clean.startsWith("..")) return null;
		const res = await fetch(`${this.base}/${clean}`, { signal: AbortSignal.timeout(this.timeoutMs) });
		if (res.status === 404) return null;
		if (!res.ok) throw new Error(`${this.base}/${rel}: HTTP ${res.status}`);
		return Buffer.from(await res.arrayBuffer());
	}
}

export interface ProfilesJson {
	arch_packages: string;
	default_packages: string[];
	linux_kernel?: { version: string; release: string; vermagic: string };
	metadata_version: number;
	profiles: Record<
		string,
		{
			device_packages: string[];
			image_prefix: string;
			images: Array<{ filesystem: string; name: string; sha256: string; sha256_unsigned?: string; type: string }>;
			supported_devices: string[];
			titles: unknown[];
		}
	>;
	source_date_epoch: number;
	target: string;
	version_code: string;
	version_number: string;
	[k: string]: unknown;
}

export interface Versions {
	/** `latest.json`: upcoming (if any), stable, oldstable of enabled branches. */
	latest: string[];
	/** Every version requests may name, newest first. */
	versions: string[];
}

/** build_at as upstream writes it, from source_date_epoch. */
export function buildAt(epoch: unknown): string {
	return new Date(Number(epoch ?? 0) * 1000).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class ReleaseMetadata {
	private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();
	constructor(
		readonly source: MetadataSource,
		private readonly ttlMs = 60_000
	) {}

	/** A JSON file of the mirror (cached), or null. */
	json<T>(rel: string): Promise<T | null> {
		const hit = this.cache.get(rel);
		if (hit && Date.now() - hit.at < this.ttlMs) return hit.value as Promise<T | null>;
		const value = this.source.read(rel).then(buf => (buf ? (JSON.parse(buf.toString("utf8")) as T) : null));
		this.cache.set(rel, { at: Date.now(), value });
		// A failed read is not kept: the next request tries again.
		value.catch(() => this.cache.delete(rel));
		return value;
	}

	async versions(): Promise<Versions> {
		const v = await this.json<{
			stable_version?: string;
			oldstable_version?: string;
			upcoming_version?: string | null;
			versions_list?: string[];
		}>(".versions.json");
		const inBranch = (x: string) => Object.entries(BRANCHES).some(([name, b]) => b.enabled && x.startsWith(name));
		const add = (list: string[], ...xs: Array<string | null | undefined>) => {
			for (const x of xs) if (x && !list.includes(x) && inBranch(x)) list.push(x);
		};
		const latest: string[] = [];
		const versions: string[] = [];
		if (v) {
			add(latest, v.upcoming_version, v.stable_version, v.oldstable_version);
			add(versions, v.upcoming_version, ...(v.versions_list ?? []));
		}
		// Snapshots only when the mirror carries them (upstream always lists them).
		if (await this.json(`snapshots/.targets.json`)) add(versions, "SNAPSHOT");
		const key = (x: string) => x.replace(".0-rc", "-rc");
		versions.sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
		return { latest, versions };
	}

	async targets(version: string): Promise<Record<string, string>> {
		const p = versionPath(version);
		return (p && (await this.json<Record<string, string>>(`${p}/.targets.json`))) || {};
	}

	async profilesJson(version: string, target: string): Promise<ProfilesJson | null> {
		const p = versionPath(version);
		return p ? this.json<ProfilesJson>(`${p}/targets/${target}/profiles.json`) : null;
	}

	/** Board names and profile ids ("," -> "_") to the profile id (reload_profiles). */
	async profileAliases(version: string, target: string): Promise<Map<string, string>> {
		const pj = await this.profilesJson(version, target);
		const map = new Map<string, string>();
		for (const [id, data] of Object.entries(pj?.profiles ?? {})) {
			for (const name of [...(data.supported_devices ?? []), id]) map.set(name.replace(/,/g, "_"), id);
		}
		return map;
	}

	/** branches.json / overview.branches: the branches that have versions in this mirror. */
	async branches(): Promise<
		Record<string, BranchConfig & { name: string; versions: string[]; targets: Record<string, string> }>
	> {
		const { versions } = await this.versions();
		const out: Record<
			string,
			BranchConfig & { name: string; versions: string[]; targets: Record<string, string> }
		> = {};
		for (const [name, b] of Object.entries(BRANCHES)) {
			const vs = versions.filter(v => branchOf(v) === name);
			if (!vs.length) continue;
			out[name] = { ...b, versions: vs, name, targets: await this.targets(vs[0]) };
		}
		return out;
	}

	/** Per-profile JSON (/json/v1/<path>/targets/<t>/<s>/<profile>.json); {} for an unknown profile. */
	async profileJson(relPath: string, target: string, profile: string): Promise<Record<string, unknown> | null> {
		const pj = await this.json<ProfilesJson>(`${relPath}/targets/${target}/profiles.json`);
		if (!pj) return null;
		const { profiles, ...meta } = pj;
		const p = profiles?.[profile];
		if (!p) return {};
		return { ...meta, ...p, id: profile, build_at: buildAt(meta.source_date_epoch) };
	}

	/** An index.json (apk v2) or Packages (opkg) of a feed directory: { architecture, packages }. */
	async packagesIndex(dir: string): Promise<{ architecture: string; packages: Record<string, string> } | null> {
		const j = await this.json<{ version?: number; architecture?: string; packages?: Record<string, string> }>(
			`${dir}/index.json`
		);
		if (j && (j.version ?? 1) >= 2) return { architecture: j.architecture ?? "", packages: j.packages ?? {} };
		const buf = await this.source.read(`${dir}/Packages`);
		if (!buf) return j ? { architecture: j.architecture ?? "", packages: j.packages ?? {} } : null;
		const packages: Record<string, string> = {};
		let architecture = "";
		for (const chunk of buf.toString("utf8").trim().split("\n\n")) {
			const f: Record<string, string> = {};
			for (const line of chunk.split("\n")) {
				const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
				if (m) f[m[1]] = m[2];
			}
			if (!architecture && f.Architecture && f.Architecture !== "all") architecture = f.Architecture;
			let name = f.Package;
			if (!name) continue;
			if (f.ABIVersion && name.endsWith(f.ABIVersion)) name = name.slice(0, -f.ABIVersion.length);
			packages[name] = f.Version;
		}
		return { architecture, packages };
	}

	/** /json/v1/<path>/targets/<t>/<s>/index.json: target packages, plus kmods after the kmod split. */
	async targetIndex(targetPath: string): Promise<{ architecture: string; packages: Record<string, string> } | null> {
		const base = await this.packagesIndex(`${targetPath}/packages`);
		if (!base) return null;
		const pj = await this.json<ProfilesJson>(`${targetPath}/profiles.json`);
		const k = pj?.linux_kernel;
		if (k && isPostKmodSplit(targetPath)) {
			const kmods = await this.packagesIndex(`${targetPath}/kmods/${k.version}-${k.release}-${k.vermagic}`);
			if (kmods) base.packages = { ...base.packages, ...kmods.packages };
		}
		return base;
	}

	/** /json/v1/<path>/packages/<arch>-index.json: every feed of feeds.conf, flat. */
	async archIndex(relPath: string, arch: string): Promise<Record<string, string>> {
		const conf = await this.source.read(`${relPath}/${arch}/feeds.conf`);
		const out: Record<string, string> = {};
		if (!conf) return out;
		for (const line of conf.toString("utf8").split("\n")) {
			const feed = line.trim().split(/\s+/)[1];
			if (!feed) continue;
			Object.assign(out, (await this.packagesIndex(`${relPath}/${arch}/${feed}`))?.packages ?? {});
		}
		return out;
	}

	/** Every package a build of version/target may install: target, kmods and feeds. */
	async installable(version: string, target: string): Promise<Record<string, string>> {
		const p = versionPath(version);
		if (!p) return {};
		const pj = await this.profilesJson(version, target);
		const t = await this.targetIndex(`${p}/targets/${target}`);
		const feeds = pj ? await this.archIndex(`${p}/packages`, pj.arch_packages) : {};
		return { ...feeds, ...(t?.packages ?? {}) };
	}
}

/** is_post_kmod_split_build: SNAPSHOT, 24.10 and later, 23.05-SNAPSHOT and 23.05.6+ keep kmods apart. */
export function isPostKmodSplit(relPath: string): boolean {
	if (relPath.startsWith("snapshots")) return true;
	const version = relPath.split("/")[1] ?? "";
	const major = version.includes(".") ? Number(version.split(".")[0]) : 0;
	if (major >= 24) return true;
	if (major === 23) {
		const minor = version.split(".").pop() ?? "";
		return minor === "05-SNAPSHOT" || minor >= "6";
	}
	return false;
}
