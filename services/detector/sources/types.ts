/**
 * What every detector source produces: a device node that appeared or went away, with the
 * udev properties that identify it (the udev event as JSON, before the detector adds the
 * timestamp and its nodeID).
 */
import type { UdevProperties } from "../../shared/contracts";

export interface RawDevice {
	/** Device node (DEVNAME): /dev/ttyUSB0, /dev/i2c-1, or a simulated path. */
	path: string;
	subsystem: string;
	properties: UdevProperties;
}

export interface RawDeviceEvent extends RawDevice {
	action: "add" | "remove";
}

export type SourceName = "udevadm" | "sysfs" | "simulated";

export interface DeviceSource {
	readonly name: SourceName;
	/** Starts watching; events arrive through `emit` until `stop`. */
	start(emit: (ev: RawDeviceEvent) => void): Promise<void>;
	stop(): Promise<void>;
	/** The devices present right now (initial enumeration and rescan). */
	scan(): Promise<RawDevice[]>;
}

/** The subsystems the detector reports: serial ports, USB devices, I2C buses. */
export const WATCHED_SUBSYSTEMS = ["tty", "usb", "i2c-dev"] as const;

/**
 * Keeps the devices a fleet cares about: USB serial ports (ttyUSB*, ttyACM* or any tty with a
 * USB vendor id), whole USB devices (not their interfaces), and I2C bus nodes. Virtual
 * consoles (tty0…tty63) and legacy UARTs without hardware behind them are noise.
 */
export function isRelevant(dev: RawDevice): boolean {
	if (dev.subsystem === "tty") return !!dev.properties.ID_VENDOR_ID || /\/tty(USB|ACM|AMA)\d+$/.test(dev.path);
	if (dev.subsystem === "usb") return dev.properties.DEVTYPE === "usb_device" && !!dev.properties.ID_VENDOR_ID;
	if (dev.subsystem === "i2c-dev") return true;
	return false;
}
