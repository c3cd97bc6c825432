/**
 * What the manager records when a device or an I2C bus is attached: plain functions from a
 * hotplug event (and the matching profile) to the registry's `upsertSeen` input, and the probes
 * an I2C bus is asked about. The manager's handlers apply them (manager.service.ts).
 */
import type { DeviceHotplugEvent } from "../shared/contracts";
import { deviceUid, i2cChipUid, portPath, stablePath, vidPid } from "./identity";
import type { Profile } from "./profiles";
import type { SeenDevice } from "./registry";
import { loadUsbIds, lookupUsb } from "./usbids";

/** A chip that answered a probe: its address and the profile it matched. */
export interface ChipFound {
	address: number;
	profile: string;
}

/** A human name for a device no profile knows: usb.ids first, then what the device says. */
export function unidentifiedName(ev: {
	path: string;
	subsystem: string;
	properties: DeviceHotplugEvent["properties"];
}): string {
	const { vid, pid } = vidPid(ev.properties);
	const ids = lookupUsb(loadUsbIds(), vid, pid);
	const vendor = ids.vendor ?? ev.properties.ID_VENDOR_FROM_DATABASE ?? ev.properties.ID_VENDOR?.replace(/_/g, " ");
	const product = ids.product ?? ev.properties.ID_MODEL_FROM_DATABASE ?? ev.properties.ID_MODEL?.replace(/_/g, " ");
	const name = [vendor, product].filter(Boolean).join(" ");
	if (name) return name;
	if (vid) return `USB device ${vid}:${pid ?? "????"}`;
	return ev.subsystem === "i2c-dev" ? `I2C bus ${ev.path}` : `Device ${ev.path}`;
}

/** The I2C profiles, and what to probe on a bus for them (addresses and chip-id registers). */
export function i2cProbes(all: Profile[]) {
	const profiles = all.filter(p => p.interface === "i2c" && p.i2c);
	const probes = profiles.flatMap(p =>
		p.i2c!.addresses.map(address => ({
			address,
			register: p.i2c!.chip_id?.register,
			expect: p.i2c!.chip_id?.value,
			profile: p.name
		}))
	);
	return { profiles, probes };
}

/** One chip per address: the first profile that answered there. */
export function firstPerAddress(found: ChipFound[]): ChipFound[] {
	const byAddress = new Map<number, ChipFound>();
	for (const f of found) if (!byAddress.has(f.address)) byAddress.set(f.address, f);
	return [...byAddress.values()];
}

export function seenI2cChip(ev: DeviceHotplugEvent, profile: Profile, address: number): SeenDevice {
	return {
		uid: i2cChipUid(ev, address),
		name: profile.name,
		type: profile.type,
		profile: profile.name,
		nodeID: ev.nodeID,
		path: ev.path,
		subsystem: "i2c",
		portPath: portPath(ev.properties),
		address
	};
}

/** A bus on which no known chip answered: registered as unidentified, never dropped. */
export function seenUnknownBus(ev: DeviceHotplugEvent): SeenDevice {
	return {
		uid: deviceUid(ev),
		name: unidentifiedName(ev),
		type: "unidentified",
		profile: null,
		nodeID: ev.nodeID,
		path: ev.path,
		subsystem: ev.subsystem,
		portPath: portPath(ev.properties)
	};
}

export function seenDevice(ev: DeviceHotplugEvent, profile: Profile | null): SeenDevice {
	const { vid, pid } = vidPid(ev.properties);
	const link = stablePath(ev);
	return {
		uid: deviceUid(ev),
		name: profile?.name ?? unidentifiedName(ev),
		type: profile?.type ?? "unidentified",
		profile: profile?.name ?? null,
		nodeID: ev.nodeID,
		path: ev.path,
		subsystem: ev.subsystem,
		vid,
		pid,
		serial: ev.properties.ID_SERIAL_SHORT,
		portPath: portPath(ev.properties),
		devLink: link !== ev.path ? link : undefined
	};
}
