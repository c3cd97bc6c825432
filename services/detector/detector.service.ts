/**
 * detector: sees devices come and go on this node and says so (`device.attached` /
 * `device.detached`, contracts/devices.ts). Small on purpose: the only part that needs udev.
 *
 * Sources: udevadm (event-driven) where udev runs, sysfs polling otherwise, and the simulated
 * source the simulator drives when SIMULATE=1 (or DETECTOR_SOURCE=simulated).
 */
import fs from "node:fs";
import path from "node:path";
import type { Context, Service } from "moleculer";
import { Errors } from "moleculer";
import { fleetEnv } from "../shared/broker-env";
import { EVENTS, type DeviceHotplugEvent } from "../shared/contracts";
import { Debouncer, type Change } from "./debounce";
import { SimulatedSource } from "./sources/simulated";
import { SysfsSource } from "./sources/sysfs";
import { UdevadmSource } from "./sources/udevadm";
import type { DeviceSource, RawDeviceEvent } from "./sources/types";
import { isRelevant } from "./sources/types";
import { errorMessage } from "../shared/error-message";
import { defineService } from "../shared/define-service";
import { ServiceWatch } from "../shared/mesh-wait";

function onPath(bin: string): boolean {
	return (process.env.PATH ?? "").split(":").some(dir => dir && fs.existsSync(path.join(dir, bin)));
}

/** Picks the hardware source: udevadm when udev is running, sysfs polling otherwise. */
export function chooseHardwareSource(
	kind: "auto" | "udevadm" | "sysfs",
	sysfsRoot: string,
	log: { warn(m: string): void }
): DeviceSource | null {
	if (
		kind === "udevadm" ||
		(kind === "auto" && sysfsRoot === "/" && onPath("udevadm") && fs.existsSync("/run/udev/control"))
	) {
		return new UdevadmSource("udevadm", log);
	}
	if (kind === "sysfs" || fs.existsSync(path.join(sysfsRoot, "sys/class"))) return new SysfsSource(sysfsRoot);
	return null;
}

type DetectorThis = Service & {
	/** The node whose processor opens this host's devices (DEVICE_NODEID; this node by default). */
	deviceNodeID: string;
	sources: DeviceSource[];
	simulated: SimulatedSource | null;
	debouncer: Debouncer;
	managers: ServiceWatch;
	syncNewManagers(): void;
	toEvent(change: Change): DeviceHotplugEvent;
	ingest(ev: RawDeviceEvent): void;
	rescan(): Promise<{ added: number; removed: number }>;
};

const DetectorService = defineService<DetectorThis>({
	name: "detector",

	actions: {
		/** Devices present on this node now (call with { nodeID } for a given node). */
		list: {
			params: {},
			handler(this: DetectorThis) {
				return {
					nodeID: this.broker.nodeID,
					sources: this.sources.map(s => s.name),
					suppressed: this.debouncer.suppressed,
					deviceNodeID: this.deviceNodeID,
					devices: [...this.debouncer.present.values()].map(d => ({
						path: d.path,
						subsystem: d.subsystem,
						properties: d.properties,
						nodeID: this.deviceNodeID
					}))
				};
			}
		},
		/** Enumerates again and reports what changed (a missed event is caught up). */
		rescan: {
			params: {},
			handler(this: DetectorThis) {
				return this.rescan();
			}
		},
		/** Drives the simulated source (the simulator's plug/unplug); refused when it is off. */
		simulate: {
			visibility: "public",
			params: {
				action: { type: "enum", values: ["add", "remove"] },
				path: { type: "string", min: 1 },
				subsystem: { type: "string", min: 1 },
				properties: { type: "object", optional: true, default: {} }
			},
			handler(this: DetectorThis, ctx: Context<RawDeviceEvent>) {
				if (!this.simulated) {
					throw new Errors.MoleculerClientError(
						"The simulated source is not enabled on this node (SIMULATE=1 or DETECTOR_SOURCE=simulated)",
						409,
						"SIMULATION_DISABLED"
					);
				}
				const { action, path: p, subsystem, properties } = ctx.params;
				this.simulated.inject({
					action,
					path: p,
					subsystem,
					properties: { ...properties, DEVNAME: p, SUBSYSTEM: subsystem }
				});
				return { ok: true };
			}
		}
	},

	events: {
		"$services.changed"(this: DetectorThis) {
			this.syncNewManagers();
		},
		"$node.disconnected"(this: DetectorThis) {
			this.syncNewManagers();
		}
	},

	methods: {
		/**
		 * A manager this node did not know yet: the attach events emitted before it was known, and the status reports
		 * of the processor here, went to nobody (a node learns of another's services up to a second or more after
		 * they started), so ask it to sync this node: it registers what is attached and catches up the status of
		 * what streams.
		 */
		syncNewManagers(this: DetectorThis) {
			for (const nodeID of this.managers.appeared()) {
				void this.broker
					.call("manager.sync", { nodeID: this.broker.nodeID }, { nodeID })
					.catch(err => this.logger.warn(`detector: sync by the manager on ${nodeID}: ${errorMessage(err)}`));
			}
		},
		toEvent(this: DetectorThis, change: Change): DeviceHotplugEvent {
			return {
				timestamp: new Date().toISOString(),
				action: change.action,
				path: change.device.path,
				subsystem: change.device.subsystem,
				properties: change.device.properties,
				nodeID: this.deviceNodeID
			};
		},
		ingest(this: DetectorThis, ev: RawDeviceEvent) {
			if (ev.action === "add" && !isRelevant(ev)) return;
			this.debouncer.push(ev);
		},
		async rescan(this: DetectorThis) {
			const all = [];
			for (const s of this.sources) {
				try {
					all.push(...(await s.scan()).filter(isRelevant));
				} catch (err) {
					this.logger.warn(`detector: ${s.name} scan failed: ${errorMessage(err)}`);
					return { added: 0, removed: 0, error: errorMessage(err) };
				}
			}
			return this.debouncer.reconcile(all);
		}
	},

	created(this: DetectorThis) {
		const env = fleetEnv(this.broker);
		// In a privileged container of its own the detector names the processor's node (DEVICE_NODEID).
		this.deviceNodeID = env.deviceNodeID ?? this.broker.nodeID;
		this.sources = [];
		this.simulated = null;
		this.managers = new ServiceWatch(this.broker, "manager");
		this.debouncer = new Debouncer(env.detectorDebounceMs, change => {
			const ev = this.toEvent(change);
			this.logger.info(
				`detector: ${change.action === "add" ? "attached" : "detached"} ${ev.path} ` +
					`(${ev.subsystem} ` +
					`${ev.properties.ID_VENDOR_ID ?? "-"}:${ev.properties.ID_MODEL_ID ?? "-"})`
			);
			void this.broker.emit(change.action === "add" ? EVENTS.deviceAttached : EVENTS.deviceDetached, ev);
		});
		if (env.detectorSource !== "simulated") {
			const hw = chooseHardwareSource(env.detectorSource, env.sysfsRoot, this.logger);
			if (hw) this.sources.push(hw);
		}
		if (env.simulate || env.detectorSource === "simulated") {
			this.simulated = new SimulatedSource();
			this.sources.push(this.simulated);
		}
	},

	async started(this: DetectorThis) {
		if (this.sources.length === 0) {
			this.logger.warn(
				"detector: no device source available (no udev, no /sys/class): set DETECTOR_SOURCE or SIMULATE=1"
			);
			return;
		}
		this.logger.info(`detector: source ${this.sources.map(s => s.name).join(" + ")}`);
		for (const s of this.sources) await s.start(ev => this.ingest(ev));
		// Initial enumeration: what is already plugged in is reported like a fresh plug.
		await this.rescan();
	},

	async stopped(this: DetectorThis) {
		this.debouncer.clear();
		for (const s of this.sources) await s.stop();
	}
});

export default DetectorService;
