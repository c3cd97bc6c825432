/**
 * Stable identity of a plugged device, so a re-plug keeps its registry id.
 *
 * With a serial number the device is itself wherever it is plugged (`usb:vid:pid:serial`).
 * Without one it is "the VID:PID device on this USB port of this node": udev's ID_PATH names
 * the port, not the tty, so ttyUSB0 renumbered to ttyUSB1 is still the same device. The
 * interface suffix (":1.0") is dropped so the tty and its USB parent share one identity.
 */
import type { UdevProperties } from "../shared/contracts";

export interface HotplugLike {
	path: string;
	subsystem: string;
	properties: UdevProperties;
	nodeID: string;
}

export function vidPid(props: UdevProperties): { vid?: string; pid?: string } {
	return { vid: props.ID_VENDOR_ID?.toLowerCase(), pid: (props.ID_MODEL_ID ?? props.ID_PRODUCT_ID)?.toLowerCase() };
}

export function portPath(props: UdevProperties): string | undefined {
	return props.ID_PATH?.replace(/:\d+\.\d+$/, "");
}

export function deviceUid(ev: HotplugLike): string {
	const { vid, pid } = vidPid(ev.properties);
	const serial = ev.properties.ID_SERIAL_SHORT;
	if (serial && vid) return `usb:${vid}:${pid ?? ""}:${serial}`;
	const port = portPath(ev.properties);
	if (port) return `port:${ev.nodeID}:${port}:${vid ?? ""}:${pid ?? ""}`;
	return `dev:${ev.nodeID}:${ev.path}`;
}

export function i2cChipUid(ev: HotplugLike, address: number): string {
	return `i2c:${ev.nodeID}:${portPath(ev.properties) ?? ev.path}:0x${address.toString(16).padStart(2, "0")}`;
}

/** The path the processor should open: the stable /dev/serial/by-id link when udev made one. */
export function stablePath(ev: { path: string; properties: UdevProperties }): string {
	const links = (ev.properties.DEVLINKS ?? "").split(/\s+/).filter(Boolean);
	return links.find(l => l.includes("/serial/by-id/")) ?? ev.path;
}
