/**
 * Turns raw source events into clean attach/detach changes.
 *
 * udev repeats events (a tty and its USB parent, "change" storms) and a worn connector
 * flaps add/remove/add within milliseconds. Events for one path are held for `windowMs`;
 * only the last one counts, and only if it changes what is present: a duplicate add, or an
 * add-remove-add flap, produces nothing; a device that really went away produces exactly one
 * detach carrying the properties it was attached with (remove events often lack them).
 */
import type { RawDevice, RawDeviceEvent } from "./sources/types";

export type Change = { action: "add"; device: RawDevice } | { action: "remove"; device: RawDevice };

function sameIdentity(a: RawDevice, b: RawDevice): boolean {
	const p = a.properties;
	const q = b.properties;
	return (
		a.subsystem === b.subsystem &&
		p.ID_VENDOR_ID === q.ID_VENDOR_ID &&
		p.ID_MODEL_ID === q.ID_MODEL_ID &&
		p.ID_SERIAL_SHORT === q.ID_SERIAL_SHORT
	);
}

export class Debouncer {
	readonly present = new Map<string, RawDevice>();
	private readonly pending = new Map<string, { ev: RawDeviceEvent; timer: NodeJS.Timeout }>();
	/** Events swallowed as duplicates or flaps (reported by detector.list). */
	suppressed = 0;

	constructor(
		private readonly windowMs: number,
		private readonly onChange: (change: Change) => void
	) {}

	push(ev: RawDeviceEvent): void {
		const prev = this.pending.get(ev.path);
		if (prev) {
			clearTimeout(prev.timer);
			this.suppressed++;
		}
		if (this.windowMs <= 0) {
			this.settle(ev);
			return;
		}
		const timer = setTimeout(() => {
			this.pending.delete(ev.path);
			this.settle(ev);
		}, this.windowMs);
		this.pending.set(ev.path, { ev, timer });
	}

	/** Brings `present` in line with a full scan (start-up enumeration, rescan), at once. */
	reconcile(scan: RawDevice[]): { added: number; removed: number } {
		const seen = new Set<string>();
		let added = 0;
		let removed = 0;
		for (const d of scan) {
			seen.add(d.path);
			if (this.pending.has(d.path)) continue; // a fresher event is on its way
			if (this.settle({ action: "add", ...d })) added++;
		}
		for (const [p, d] of [...this.present]) {
			if (!seen.has(p) && !this.pending.has(p) && this.settle({ action: "remove", ...d })) removed++;
		}
		return { added, removed };
	}

	clear(): void {
		for (const { timer } of this.pending.values()) clearTimeout(timer);
		this.pending.clear();
	}

	/** Applies one event; true when it changed what is present. */
	private settle(ev: RawDeviceEvent): boolean {
		const was = this.present.get(ev.path);
		const device: RawDevice = { path: ev.path, subsystem: ev.subsystem, properties: ev.properties };
		if (ev.action === "add") {
			if (was && sameIdentity(was, device)) {
				this.suppressed++;
				return false;
			}
			// Another device now has this node (unplug + plug of a different board within the window).
			if (was) this.onChange({ action: "remove", device: was });
			this.present.set(ev.path, device);
			this.onChange({ action: "add", device });
			return true;
		}
		if (!was) {
			this.suppressed++;
			return false;
		}
		this.present.delete(ev.path);
		this.onChange({ action: "remove", device: { ...was, properties: { ...was.properties, ...ev.properties } } });
		return true;
	}
}
