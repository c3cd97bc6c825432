/**
 * Package changes per release (upstream asu/package_changes.py), applied to the package list
 * before the ImageBuilder sees it. Returns what changed so prepare can show it to the user
 * before anything is built.
 */
import type { BuildRequest, PackageChange } from "../contracts/builds";

const ATH79_RTL8366S = new Set([
	"buffalo_wzr-hp-g300nh-s",
	"dlink_dir-825-b1",
	"netgear_wndr3700",
	"netgear_wndr3700-v2",
	"netgear_wndr3800",
	"netgear_wndr3800ch",
	"netgear_wndrmac-v1",
	"netgear_wndrmac-v2",
	"trendnet_tew-673gru"
]);
const MV88E6XXX: Record<string, Set<string>> = {
	"kirkwood/generic": new Set([
		"checkpoint_l-50",
		"endian_4i-edge-200",
		"linksys_e4200-v2",
		"linksys_ea3500",
		"linksys_ea4500"
	]),
	"mvebu/cortexa9": new Set([
		"cznic_turris-omnia",
		"fortinet_fg-30e",
		"fortinet_fwf-30e",
		"fortinet_fg-50e",
		"fortinet_fg-51e",
		"fortinet_fg-52e",
		"fortinet_fwf-50e-2r",
		"fortinet_fwf-51e",
		"iij_sa-w2",
		"linksys_wrt1200ac",
		"linksys_wrt1900acs",
		"linksys_wrt1900ac-v1",
		"linksys_wrt1900ac-v2",
		"linksys_wrt3200acm",
		"linksys_wrt32x",
		"marvell_a370-rd"
	]),
	"mvebu/cortexa53": new Set([
		"glinet_gl-mv1000",
		"globalscale_espressobin",
		"globalscale_espressobin-emmc",
		"globalscale_espressobin-ultra",
		"globalscale_espressobin-v7",
		"globalscale_espressobin-v7-emmc",
		"methode_udpu"
	]),
	"mvebu/cortexa72": new Set([
		"checkpoint_v-80",
		"checkpoint_v-81",
		"globalscale_mochabin",
		"mikrotik_rb5009",
		"solidrun_clearfog-pro"
	])
};
const XRX200_PHY22F = new Set([
	"arcadyan_arv7519rw22",
	"arcadyan_vgv7510kw22-brn",
	"arcadyan_vgv7510kw22-nor",
	"avm_fritz7412",
	"avm_fritz7430",
	"buffalo_wbmr-300hpd"
]);
const XRX200_PHY11G = new Set([
	"tplink_vr200",
	"tplink_vr200v",
	"arcadyan_vgv7519-brn",
	"arcadyan_vgv7519-nor",
	"arcadyan_vrv9510kwac23",
	"avm_fritz3370-rev2-hynix",
	"avm_fritz3370-rev2-micron",
	"avm_fritz3390",
	"avm_fritz3490",
	"avm_fritz3490-micron",
	"avm_fritz5490",
	"avm_fritz5490-micron",
	"avm_fritz7360sl",
	"avm_fritz7360-v2",
	"avm_fritz7362sl",
	"avm_fritz7490",
	"avm_fritz7490-micron",
	"bt_homehub-v5a",
	"lantiq_easy80920-nand",
	"lantiq_easy80920-nor",
	"zyxel_p-2812hnu-f1",
	"zyxel_p-2812hnu-f3"
]);
const LEGACY_PHY22F = new Set(["alphanetworks_asl56026", "netgear_dm200"]);
const LEGACY_PHY11G = new Set(["tplink_tdw8970", "tplink_tdw8980", "arcadyan_vg3503j"]);
const HCI_UART: Record<string, Set<string>> = {
	"bcm53xx/generic": new Set(["meraki_mr32"]),
	"ipq40xx/generic": new Set(["linksys_whw03", "linksys_whw03v2"]),
	"qualcommax/ipq807x": new Set(["linksys_mx4200v1", "linksys_mx8500", "zyxel_nbg7815"])
};
/** Language packs renamed from a version on (applies to that version, later ones and snapshots). */
const LANGUAGE_PACKS: Record<string, Record<string, string>> = {
	"24.10": { "luci-i18n-opkg-": "luci-i18n-package-manager-" }
};

/** Applies the changes to `req.packages` in place (as upstream does) and lists them. */
export function applyPackageChanges(
	req: Pick<BuildRequest, "version" | "target" | "profile" | "packages">
): PackageChange[] {
	const c = changeList(req.packages);
	const { version, target, profile } = req;
	if (version.startsWith("23.05")) changesFor2305(c, target, profile);
	if (version.startsWith("24.10")) changesFor2410(c, target, profile);
	if (version.startsWith("25.12")) changesFor2512(c, target, profile);
	if (version === "SNAPSHOT") {
		c.remove("kmod-nf-conntrack6", "merged into kmod-nf-conntrack in snapshots");
		c.remove("kmod-lib-crc32c", "rolled into other kernel modules in snapshots");
	}
	renameLanguagePacks(c, version);
	for (const pkg of [...c.packages]) {
		if (pkg.startsWith("luci-i18n-") && pkg.endsWith("-en"))
			c.remove(pkg, "English is built in: -en language packs no longer exist");
	}
	return c.changes;
}

/** The request's package list with the changes made to it so far. */
function changeList(packages: string[]) {
	const changes: PackageChange[] = [];
	return {
		packages,
		changes,
		add(pkg: string, reason: string): void {
			if (packages.includes(pkg)) return;
			packages.push(pkg);
			changes.push({ type: "addition", action: "add", package: pkg, reason, automatic: true });
		},
		remove(pkg: string, reason: string): boolean {
			const i = packages.indexOf(pkg);
			if (i < 0) return false;
			packages.splice(i, 1);
			changes.push({ type: "removal", action: "remove", package: pkg, reason, automatic: true });
			return true;
		}
	};
}
type ChangeList = ReturnType<typeof changeList>;

/** 23.05: drivers and firmware split out of the kernel packages. */
function changesFor2305(c: ChangeList, target: string, profile: string): void {
	if (target === "mediatek/mt7622")
		c.add("kmod-mt7622-firmware", "mt7622 wireless firmware is a separate package in 23.05");
	else if (target === "ath79/generic") {
		if (ATH79_RTL8366S.has(profile)) c.add("kmod-switch-rtl8366s", "switch driver is a separate package in 23.05");
		else if (profile === "buffalo_wzr-hp-g300nh-rb")
			c.add("kmod-switch-rtl8366rb", "switch driver is a separate package in 23.05");
	}
}

/** 24.10: auc became owut; board calibration and fitblk are packages of their own. */
function changesFor2410(c: ChangeList, target: string, profile: string): void {
	const i = c.packages.indexOf("auc");
	if (i >= 0) {
		c.packages.splice(i, 1);
		if (!c.packages.includes("owut")) c.packages.push("owut");
		c.changes.push({
			type: "migration",
			action: "replace",
			from_package: "auc",
			to_package: "owut",
			reason: "auc was replaced by owut in 24.10",
			automatic: true
		});
	}
	if (profile === "tplink_archer-c6-v2")
		c.add("ipq-wifi-tplink_archer-c6-v2", "board wireless calibration is a separate package in 24.10");
	if (target === "mediatek/filogic" || target === "mediatek/mt7622" || target === "mediatek/mt7623")
		c.add("fitblk", "mediatek images need fitblk from 24.10 on");
}

/** 25.12: DSA switch drivers, lantiq PHY firmware, the Bluetooth UART and MikroTik's legacy ag71xx. */
function changesFor2512(c: ChangeList, target: string, profile: string): void {
	const dsa = "switch driver is a separate package in 25.12";
	if (MV88E6XXX[target]?.has(profile)) c.add("kmod-dsa-mv88e6xxx", dsa);
	else if (target === "lantiq/xrx200" || target === "lantiq/xrx200_legacy") {
		c.add("kmod-dsa-gswip", dsa);
		const legacy = target === "lantiq/xrx200_legacy";
		if ((legacy ? LEGACY_PHY22F : XRX200_PHY22F).has(profile)) {
			c.add("xrx200-rev1.1-phy22f-firmware", "PHY firmware is a separate package in 25.12");
			c.add("xrx200-rev1.2-phy22f-firmware", "PHY firmware is a separate package in 25.12");
		} else if ((legacy ? LEGACY_PHY11G : XRX200_PHY11G).has(profile)) {
			c.add("xrx200-rev1.1-phy11g-firmware", "PHY firmware is a separate package in 25.12");
			c.add("xrx200-rev1.2-phy11g-firmware", "PHY firmware is a separate package in 25.12");
		}
	} else if (HCI_UART[target]?.has(profile))
		c.add("kmod-hci-uart", "Bluetooth UART driver is a separate package in 25.12");
	else if (target === "ath79/mikrotik")
		c.add("kmod-ag71xx-legacy", "MikroTik ath79 boards need the legacy ag71xx driver in 25.12");
}

/** Language packs renamed in `version` or before (renamed in place, keeping the list's order). */
function renameLanguagePacks(c: ChangeList, version: string): void {
	// Python compares the version strings themselves: "SNAPSHOT" >= "24.10", "23.05.5" < "24.10".
	for (const [from, packs] of Object.entries(LANGUAGE_PACKS)) {
		if (!(version >= from)) continue;
		c.packages.forEach((pkg, i) => {
			for (const [oldPrefix, newPrefix] of Object.entries(packs)) {
				if (!pkg.startsWith(oldPrefix)) continue;
				const renamed = newPrefix + pkg.split(oldPrefix).join("");
				c.packages[i] = renamed;
				c.changes.push({
					type: "migration",
					action: "replace",
					from_package: pkg,
					to_package: renamed,
					reason: `language packs renamed from ${from} on`,
					automatic: true
				});
			}
		});
	}
}
