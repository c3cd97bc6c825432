/**
 * Vendor and product names from the usb.ids database, for devices no profile knows.
 *
 * Debian's copy is used when installed (package usb.ids / hwdata), else the bundled
 * usb.ids.gz beside this file (Debian usb.ids 2025.07.26, see usb.ids.COPYRIGHT).
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

export const USB_IDS_CANDIDATES = ["/usr/share/misc/usb.ids", "/usr/share/hwdata/usb.ids", "/var/lib/usbutils/usb.ids"];
export const BUNDLED_USB_IDS = path.join(__dirname, "usb.ids.gz");

export interface UsbIds {
	source: string;
	vendors: Map<string, { name: string; products: Map<string, string> }>;
}

/** Parses usb.ids text (vendor lines, tab-indented product lines; stops at the class lists). */
export function parseUsbIds(text: string, source = "usb.ids"): UsbIds {
	const vendors: UsbIds["vendors"] = new Map();
	let current: { name: string; products: Map<string, string> } | null = null;
	for (const line of text.split("\n")) {
		if (line === "" || line.startsWith("#")) continue;
		const v = /^([0-9a-fA-F]{4})\s+(.*)$/.exec(line);
		if (v) {
			current = { name: v[2].trim(), products: new Map() };
			vendors.set(v[1].toLowerCase(), current);
			continue;
		}
		const p = /^\t([0-9a-fA-F]{4})\s+(.*)$/.exec(line);
		if (p && current) {
			current.products.set(p[1].toLowerCase(), p[2].trim());
			continue;
		}
		// Interfaces (two tabs) are skipped; the class/language lists start with a keyword.
		if (/^[A-Z]{1,3} /.test(line)) current = null;
	}
	return { source, vendors };
}

let cached: UsbIds | null = null;

/** The usb.ids database of this machine, or the bundled copy; read once per process. */
export function loadUsbIds(candidates = USB_IDS_CANDIDATES, bundled = BUNDLED_USB_IDS): UsbIds {
	if (cached) return cached;
	for (const file of candidates) {
		try {
			return (cached = parseUsbIds(fs.readFileSync(file, "latin1"), file));
		} catch {
			/* try the next one */
		}
	}
	try {
		return (cached = parseUsbIds(zlib.gunzipSync(fs.readFileSync(bundled)).toString("latin1"), bundled));
	} catch {
		return (cached = { source: "none", vendors: new Map() });
	}
}

export function lookupUsb(ids: UsbIds, vid?: string, pid?: string): { vendor?: string; product?: string } {
	if (!vid) return {};
	const v = ids.vendors.get(vid.toLowerCase());
	return { vendor: v?.name, product: pid ? v?.products.get(pid.toLowerCase()) : undefined };
}
