/**
 * The ASU logic that clients depend on byte for byte: the request hash (all 400 upstream
 * vectors), the request schema (422 texts), validation (400 texts), package changes per
 * version, and the ordered JSON that keeps repository key order.
 */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { requestHash, pyReprStr } from "../../services/shared/asu/hash";
import { DirSource, ReleaseMetadata } from "../../services/shared/asu/metadata";
import { keysOf, parseOrdered, stringifyOrdered } from "../../services/shared/asu/ordered-json";
import { applyPackageChanges } from "../../services/shared/asu/package-changes";
import { diffPackages, isAnswer, prepareRequest } from "../../services/shared/asu/prepare";
import { parseBuildRequest } from "../../services/shared/asu/request";
import { validateRequest } from "../../services/shared/asu/validate";
import { packageErrors, parseManifest } from "../../services/builds-worker/build-flow";
import { ASU_MIRROR_DIR } from "../../services/shared/paths";

// 400 requests with the hash upstream's get_request_hash computes for each.
const vectorsFile = `${__dirname}/../fixtures/asu/hash-vectors.json`;

function req(body: Record<string, unknown>) {
	const p = parseBuildRequest(body);
	if (!p.ok) throw new Error(JSON.stringify(p.detail));
	return p.request;
}

describe("request hash", () => {
	const vectors = parseOrdered(fs.readFileSync(vectorsFile, "utf8")) as Array<{
		request: Record<string, unknown>;
		request_hash: string;
	}>;

	it("matches upstream on all 400 vectors", () => {
		expect(vectors).toHaveLength(400);
		const wrong = vectors.filter(v => requestHash(req(v.request)) !== v.request_hash);
		expect(wrong.map(w => JSON.stringify(w.request))).toEqual([]);
	});

	it("keeps the request's key order for repository names that look like integers", () => {
		const text =
			'{"version":"24.10.2","target":"ath79/generic","profile":"p",' +
			'"repositories":{"9a":"https://a.example/x","9":"https://b.example/y"}}';
		const ordered = req(parseOrdered(text) as Record<string, unknown>);
		expect(keysOf(ordered.repositories)).toEqual(["9a", "9"]);
		const swapped = req(
			parseOrdered(
				'{"version":"24.10.2","target":"ath79/generic","profile":"p",' +
					'"repositories":{"9":"https://b.example/y","9a":"https://a.example/x"}}'
			) as Record<string, unknown>
		);
		expect(requestHash(ordered)).not.toBe(requestHash(swapped));
		expect(stringifyOrdered(parseOrdered(text))).toBe(text);
	});

	it("hashes a board name like its profile id, and null defaults like empty ones", () => {
		expect(requestHash(req({ version: "1", target: "a/b", profile: "x,y" }))).toBe(
			requestHash(req({ version: "1", target: "a/b", profile: "x_y" }))
		);
		expect(requestHash(req({ version: "1", target: "a/b", profile: "p", defaults: "" }))).toBe(
			requestHash(req({ version: "1", target: "a/b", profile: "p", defaults: null }))
		);
		expect(pyReprStr("it's")).toBe(`"it's"`);
		expect(pyReprStr("a\u00a0\u200b\n")).toBe("'a\\xa0\\u200b\\n'");
	});
});

describe("request schema (422, FastAPI's shape)", () => {
	const base = { version: "24.10.2", target: "ath79/generic", profile: "p" };
	const detail = (body: unknown) => {
		const p = parseBuildRequest(body);
		return p.ok ? [] : p.detail;
	};
	it("names the field, the rule and the input", () => {
		expect(detail({ ...base, packages: ["+tmux"] })[0]).toEqual({
			type: "string_pattern_mismatch",
			loc: ["body", "packages", 0],
			msg: "String should match pattern '^[\\w.,-]*$'",
			input: "+tmux",
			ctx: { pattern: "^[\\w.,-]*$" }
		});
		expect(detail({ target: "a/b", profile: "p" })[0]).toMatchObject({
			type: "missing",
			loc: ["body", "version"],
			msg: "Field required"
		});
		expect(detail({ ...base, rootfs_size_mb: 256.5 })[0]).toMatchObject({
			type: "int_from_float",
			loc: ["body", "rootfs_size_mb"]
		});
		expect(detail({ ...base, rootfs_size_mb: 2048 })[0]).toMatchObject({
			msg: "Input should be less than or equal to 1024"
		});
		expect(detail({ ...base, filesystem: "btrfs" })[0].msg).toBe(
			"Input should be 'squashfs', 'ext4', 'ubifs', 'erofs', 'jffs2', 'jffs2-nand', 'targz' or 'cpiogz'"
		);
		expect(detail({ ...base, target: "ath79" })[0]).toMatchObject({
			type: "string_pattern_mismatch",
			loc: ["body", "target"]
		});
		expect(detail({ ...base, repositories: { r: "ftp://x" } })[0]).toMatchObject({
			loc: ["body", "repositories", "r"]
		});
		expect(detail("[1]")[0]).toMatchObject({ type: "model_attributes_type", loc: ["body"] });
		expect(detail("{")[0]).toMatchObject({ type: "json_invalid" });
	});
	it("converts as pydantic's lax mode does and ignores unknown fields", () => {
		const r = req({ ...base, diff_packages: "yes", rootfs_size_mb: "256", packages: ["-ppp"], extra: 1 });
		expect(r.diff_packages).toBe(true);
		expect(r.rootfs_size_mb).toBe(256);
		expect(r.packages).toEqual(["-ppp"]);
		expect(r.distro).toBe("openwrt");
		expect(r.repositories_mode).toBe("replace");
	});
});

describe("validation against the shipped mirror (400 texts)", () => {
	const meta = new ReleaseMetadata(new DirSource(ASU_MIRROR_DIR));
	const opts = { allowDefaults: false, repositoryAllowList: ["https://feeds.example.org/openwrt"] };
	const detail = async (body: Record<string, unknown>) => {
		const v = await validateRequest(meta, req(body), opts);
		return v.ok ? v.request : v.detail;
	};
	const C7 = { version: "24.10.2", target: "ath79/generic", profile: "tplink,archer-c7-v5" };

	it("answers upstream's texts in upstream's order", async () => {
		expect(await detail({ ...C7, defaults: "x" })).toBe("Handling `defaults` not enabled on server");
		expect(await detail({ ...C7, repositories: { evil: "https://feeds.example.org.evil.com/openwrt/x" } })).toBe(
			"Repository not allowed: https://feeds.example.org.evil.com/openwrt/x"
		);
		expect(await detail({ ...C7, distro: "lede" })).toBe("Unsupported distro: lede");
		expect(await detail({ ...C7, version: "19.07.10" })).toBe("Unsupported branch: 19.07.10");
		expect(await detail({ ...C7, version: "23.05.9" })).toBe("Unsupported version: 23.05.9");
		expect(await detail({ ...C7, target: "ramips/mt7621" })).toBe(
			"Unsupported target: ramips/mt7621. The requested target was either dropped, is still being " +
				"built or is not supported by the selected version. Please check the forums or try again " +
				"later."
		);
		expect(await detail({ ...C7, profile: "nope" })).toBe(
			"Unsupported profile: nope. The requested profile was either dropped or never existed. Please " +
				"check the forums for more information."
		);
	});

	it("canonicalises the profile, any board on a generic-only target, packages from packages_versions", async () => {
		expect(
			((await detail({ ...C7, repositories: { ok: "https://feeds.example.org/openwrt/x" } })) as any).profile
		).toBe("tplink_archer-c7-v5");
		expect(
			((await detail({ version: "24.10.2", target: "x86/64", profile: "pc-engines-apu2" })) as any).profile
		).toBe("generic");
		expect(((await detail({ ...C7, packages: ["a"], packages_versions: { tmux: "1" } })) as any).packages).toEqual([
			"tmux"
		]);
	});

	it("prepare lists the changes and resolves diff_packages against the release defaults", async () => {
		const r = await prepareRequest(
			meta,
			{
				...C7,
				version: "24.10.2",
				packages: ["auc", "luci-i18n-opkg-de", "luci-i18n-base-en", "tmux"],
				diff_packages: true
			},
			opts
		);
		if (isAnswer(r)) throw new Error(JSON.stringify(r));
		expect(r.changes.filter(c => c.type !== "removal" || c.package === "luci-i18n-base-en")).toEqual([
			{
				type: "migration",
				action: "replace",
				from_package: "auc",
				to_package: "owut",
				reason: "auc was replaced by owut in 24.10",
				automatic: true
			},
			{
				type: "migration",
				action: "replace",
				from_package: "luci-i18n-opkg-de",
				to_package: "luci-i18n-package-manager-de",
				reason: "language packs renamed from 24.10 on",
				automatic: true
			},
			{
				type: "removal",
				action: "remove",
				package: "luci-i18n-base-en",
				reason: "English is built in: -en language packs no longer exist",
				automatic: true
			}
		]);
		expect(r.request.diff_packages).toBe(false);
		expect(r.resolvedPackages).toContain("-dnsmasq");
		expect(r.resolvedPackages.slice(-3)).toEqual(["luci-i18n-package-manager-de", "tmux", "owut"]);
		const bad = await prepareRequest(meta, { ...C7, version: "21.02.0" }, opts);
		expect(isAnswer(bad) && bad.status).toBe(400);
	});
});

describe("package changes per version (package_changes.py)", () => {
	const apply = (version: string, target: string, profile: string, packages: string[]) => {
		const r = { version, target, profile, packages: [...packages] };
		applyPackageChanges(r);
		return r.packages;
	};
	it("23.05", () => {
		expect(apply("23.05.5", "mediatek/mt7622", "x", [])).toEqual(["kmod-mt7622-firmware"]);
		expect(apply("23.05.5", "ath79/generic", "netgear_wndr3800", [])).toEqual(["kmod-switch-rtl8366s"]);
		expect(apply("23.05.5", "ath79/generic", "buffalo_wzr-hp-g300nh-rb", [])).toEqual(["kmod-switch-rtl8366rb"]);
		expect(apply("23.05.5", "x", "y", ["auc", "luci-i18n-opkg-de"])).toEqual(["auc", "luci-i18n-opkg-de"]);
	});
	it("24.10", () => {
		expect(apply("24.10.2", "x", "y", ["auc", "owut"])).toEqual(["owut"]);
		expect(apply("24.10.2", "ath79/generic", "tplink_archer-c6-v2", [])).toEqual(["ipq-wifi-tplink_archer-c6-v2"]);
		expect(apply("24.10.2", "mediatek/filogic", "z", ["fitblk"])).toEqual(["fitblk"]);
		expect(apply("24.10.2", "x", "y", ["luci-i18n-opkg-fr", "luci-i18n-base-en"])).toEqual([
			"luci-i18n-package-manager-fr"
		]);
	});
	it("25.12 and SNAPSHOT", () => {
		expect(apply("25.12.0", "lantiq/xrx200", "avm_fritz7490", [])).toEqual([
			"kmod-dsa-gswip",
			"xrx200-rev1.1-phy11g-firmware",
			"xrx200-rev1.2-phy11g-firmware"
		]);
		expect(apply("25.12.0", "mvebu/cortexa9", "cznic_turris-omnia", [])).toEqual(["kmod-dsa-mv88e6xxx"]);
		expect(apply("25.12.0", "ath79/mikrotik", "any", [])).toEqual(["kmod-ag71xx-legacy"]);
		expect(apply("SNAPSHOT", "x", "y", ["kmod-nf-conntrack6", "kmod-lib-crc32c", "luci-i18n-opkg-de"])).toEqual([
			"luci-i18n-package-manager-de"
		]);
	});
	it("diff_packages, manifests and package errors as upstream parses them", () => {
		expect(diffPackages(["tmux", "dnsmasq"], new Set(["dnsmasq", "ppp", "-x"]))).toEqual([
			"-ppp",
			"-x",
			"tmux",
			"dnsmasq"
		]);
		expect(parseManifest("a - 1.0\nb - 2\n")).toEqual({ a: "1.0", b: "2" });
		expect(parseManifest("a 1.0\nb 2\n")).toEqual({ a: "1.0", b: "2" });
		expect(packageErrors("Collected errors:\n * opkg_install_cmd: Cannot install package foo.\n")).toBe(
			"Impossible package selection: missing (foo)"
		);
		expect(
			packageErrors("ERROR: unable to select packages:\n  bar (no such package):\n    required by: world[bar]\n")
		).toBe("Impossible package selection: missing (bar)");
		expect(packageErrors("ERROR: unable to select packages:\n  A:\n    conflicts: B[x=1]\n")).toBe(
			"Impossible package selection: conflicts (A, B)"
		);
	});
});
