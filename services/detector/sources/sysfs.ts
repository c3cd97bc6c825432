/**
 * sysfs source: polls /sys/class/tty and /sys/class/i2c-dev (no udev needed: a container
 * without /run/udev, a minimal image). The root is configurable so tests point it at a tree
 * they build: `<root>/sys/class/tty/ttyUSB0 -> ../../devices/…/1-1/1-1:1.0/ttyUSB0`, with the
 * USB device's idVendor/idProduct/manufacturer/product/serial files up the chain, and
 * `<root>/dev/serial/by-id/*` links for the stable names.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { UdevProperties } from "../../shared/contracts";
import { isRelevant, type DeviceSource, type RawDevice, type RawDeviceEvent } from "./types";

async function readAttr(dir: string, name: string): Promise<string | undefined> {
	try {
		return (await fs.readFile(path.join(dir, name), "utf8")).trim();
	} catch {
		return undefined;
	}
}

async function exists(p: string): Promise<boolean> {
	try {
		await fs.access(p);
		return true;
	} catch {
		return false;
	}
}

/** udev's ID_* style value: spaces and odd characters replaced by '_'. */
function udevEncode(v: string): string {
	return v.replace(/[^\w.-]/g, "_");
}

/** Walks up from a class device to the USB device that owns it (the directory with idVendor). */
async function findUsbDevice(realDir: string, sysRoot: string): Promise<{ dir: string; iface?: string } | null> {
	let dir = realDir;
	let iface: string | undefined;
	while (dir.startsWith(sysRoot) && dir !== sysRoot) {
		if (/^\d+-[\d.]+:\d+\.\d+$/.test(path.basename(dir))) iface ??= path.basename(dir);
		if (await exists(path.join(dir, "idVendor"))) return { dir, iface };
		dir = path.dirname(dir);
	}
	return null;
}

/** Links under <root>/dev/serial/by-id (and by-path) that point at /dev/<name>. */
async function devlinksFor(root: string, name: string): Promise<string[]> {
	const links: string[] = [];
	for (const sub of ["serial/by-id", "serial/by-path"]) {
		const dir = path.join(root, "dev", sub);
		let entries: string[] = [];
		try {
			entries = await fs.readdir(dir);
		} catch {
			continue;
		}
		for (const e of entries) {
			try {
				const target = await fs.readlink(path.join(dir, e));
				if (path.basename(target) === name) links.push(`/dev/${sub}/${e}`);
			} catch {
				/* not a link */
			}
		}
	}
	return links;
}

export async function scanSysfs(root: string): Promise<RawDevice[]> {
	const sys = path.join(root, "sys");
	const out: RawDevice[] = [];
	let ttys: string[] = [];
	try {
		ttys = await fs.readdir(path.join(sys, "class/tty"));
	} catch {
		/* no tty class */
	}
	for (const name of ttys) {
		const classDir = path.join(sys, "class/tty", name);
		let real: string;
		try {
			real = await fs.realpath(classDir);
		} catch {
			continue; // vanished between readdir and realpath
		}
		const props: UdevProperties = { SUBSYSTEM: "tty", DEVNAME: `/dev/${name}` };
		const usb = await findUsbDevice(real, await fs.realpath(sys).catch(() => sys));
		if (usb) {
			props.ID_BUS = "usb";
			props.ID_VENDOR_ID = (await readAttr(usb.dir, "idVendor"))?.toLowerCase();
			props.ID_MODEL_ID = (await readAttr(usb.dir, "idProduct"))?.toLowerCase();
			const vendor = await readAttr(usb.dir, "manufacturer");
			const model = await readAttr(usb.dir, "product");
			const serial = await readAttr(usb.dir, "serial");
			if (vendor) {
				props.ID_VENDOR = udevEncode(vendor);
				props.ID_VENDOR_FROM_DATABASE = vendor;
			}
			if (model) props.ID_MODEL = udevEncode(model);
			if (serial) props.ID_SERIAL_SHORT = serial;
			props.ID_PATH = `usb-${usb.iface ?? path.basename(usb.dir)}`;
		}
		const links = await devlinksFor(root, name);
		if (links.length) props.DEVLINKS = links.join(" ");
		const dev: RawDevice = { path: `/dev/${name}`, subsystem: "tty", properties: props };
		if (isRelevant(dev)) out.push(dev);
	}
	let buses: string[] = [];
	try {
		buses = await fs.readdir(path.join(sys, "class/i2c-dev"));
	} catch {
		/* no i2c-dev class (module not loaded) */
	}
	for (const name of buses) {
		const adapter = await readAttr(path.join(sys, "class/i2c-dev", name), "name");
		const props: UdevProperties = { SUBSYSTEM: "i2c-dev", DEVNAME: `/dev/${name}`, ID_PATH: `i2c-${name}` };
		if (adapter) props.ID_MODEL = udevEncode(adapter);
		out.push({ path: `/dev/${name}`, subsystem: "i2c-dev", properties: props });
	}
	return out;
}

export class SysfsSource implements DeviceSource {
	readonly name = "sysfs" as const;
	private timer: NodeJS.Timeout | null = null;
	private known = new Map<string, RawDevice>();
	private polling = false;

	constructor(
		readonly root = "/",
		private readonly intervalMs = 1000
	) {}

	async start(emit: (ev: RawDeviceEvent) => void): Promise<void> {
		// The first scan is the initial enumeration the detector does itself: start from it.
		for (const d of await this.scan()) this.known.set(d.path, d);
		const tick = async () => {
			if (this.polling) return;
			this.polling = true;
			try {
				const now = new Map((await this.scan()).map(d => [d.path, d] as const));
				for (const [p, d] of now) if (!this.known.has(p)) emit({ action: "add", ...d });
				for (const [p, d] of this.known) if (!now.has(p)) emit({ action: "remove", ...d });
				this.known = now;
			} finally {
				this.polling = false;
			}
		};
		this.timer = setInterval(() => void tick().catch(() => undefined), this.intervalMs);
		this.timer.unref?.();
	}

	async stop(): Promise<void> {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
	}

	scan(): Promise<RawDevice[]> {
		return scanSysfs(this.root);
	}
}
