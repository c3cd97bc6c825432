/**
 * simulated source: devices plugged and unplugged by the simulator service (its
 * `simulator.plug` / `simulator.unplug` call `detector.simulate` on the same node).
 */
import type { DeviceSource, RawDevice, RawDeviceEvent } from "./types";

export class SimulatedSource implements DeviceSource {
	readonly name = "simulated" as const;
	private emit: ((ev: RawDeviceEvent) => void) | null = null;
	private readonly present = new Map<string, RawDevice>();

	async start(emit: (ev: RawDeviceEvent) => void): Promise<void> {
		this.emit = emit;
	}

	async stop(): Promise<void> {
		this.emit = null;
	}

	async scan(): Promise<RawDevice[]> {
		return [...this.present.values()];
	}

	inject(ev: RawDeviceEvent): void {
		if (ev.action === "add")
			this.present.set(ev.path, { path: ev.path, subsystem: ev.subsystem, properties: ev.properties });
		else this.present.delete(ev.path);
		this.emit?.(ev);
	}
}
