/**
 * manager: identifies what the detector saw (profiles, usb.ids), keeps the device registry,
 * configures the device and asks the processor on the device's node to open it.
 *
 * Location-free: it may run in the cloud while detector and processor run on a Pi; every
 * device call carries the device's nodeID (hardware is bound to its node; everything else may run anywhere).
 */
import type { Context, Service } from "moleculer";
import {
	callerOf,
	deviceNotFound,
	isAdmin,
	mayAccessOwner,
	type Caller,
	type DeviceAccess
} from "../../mixins/authorization";
import { DbMixin, type Database } from "../../mixins/db.mixin";
import { refParam, resolveUser } from "../../mixins/refs";
import {
	DEFAULT_PAGE,
	decodeCursor,
	isPositiveInt,
	pageParams,
	toPage,
	wholeList,
	pageOf,
	type Page
} from "../shared/lists";
import { waitForServiceOnNode } from "../shared/mesh-wait";
import { fleetEnv } from "../shared/broker-env";
import {
	EVENTS,
	type DeviceHotplugEvent,
	type DeviceOpenRequest,
	type DeviceStatus,
	type DeviceStatusEvent
} from "../shared/contracts";
import { SIGNING_ACTIONS, USER_CHANGED_EVENT, type UserChangedEvent, type UserState } from "../shared/contracts/tokens";
import { ConflictError, ForbiddenError, UnprocessableError } from "../shared/errors";
import { INT32_MAX } from "../shared/params";
import { NODE_LOST, NODE_STOPPED } from "../shared/contracts/devices";
import { PROFILES_DIR } from "../shared/paths";
import { deviceUid, stablePath } from "./identity";
import { loadProfiles, matchProfile, type Profile, type ProfileError } from "./profiles";
import {
	addEvent,
	deleteDevice,
	ensureDatapoints,
	findByUid,
	findOnI2cBus,
	getDeviceRow,
	insertDevice,
	listDevices,
	liveDevicesOn,
	nodesWithLiveDevices,
	recentEvents,
	releaseOwner,
	setStatus,
	updateDevice,
	toDeviceRecord,
	upsertSeen,
	type DeviceChanges,
	type DeviceListFilter,
	type DeviceRow,
	type NewDevice
} from "./registry";
import { DeviceEventView, DeviceRecord, DeviceStatusView } from "../shared/contracts/api";
import { Deleted } from "../shared/contracts/schema";
import { loadUsbIds } from "./usbids";
import { errorMessage } from "../shared/error-message";
import { DEVICE_STATUSES } from "../shared/contracts/devices";
import { firstPerAddress, i2cProbes, seenDevice, seenI2cChip, seenUnknownBus, type ChipFound } from "./attach";
import { defineService } from "../shared/define-service";

type ManagerThis = Service & {
	db: Database;
	profiles: Profile[];
	profileErrors: ProfileError[];
	queues: Map<string, Promise<unknown>>;
	serial<T>(key: string, fn: () => Promise<T>): Promise<T>;
	handleAttach(ev: DeviceHotplugEvent): Promise<void>;
	attachI2cBus(ev: DeviceHotplugEvent): Promise<void>;
	attachDevice(ev: DeviceHotplugEvent): Promise<void>;
	handleDetach(ev: DeviceHotplugEvent): Promise<void>;
	configureAndOpen(row: DeviceRow, profile: Profile, ev: DeviceHotplugEvent, address?: number): Promise<void>;
	transition(
		id: number,
		status: DeviceStatus,
		reason: string | null,
		nodeID: string | null,
		force?: boolean,
		expected?: DeviceStatus | null
	): Promise<void>;
	deviceFor(ctx: Context, id: number): Promise<DeviceRow>;
	ownerFor(caller: Caller | null, wanted: number | null | undefined, fallback: number | null): Promise<number | null>;
	syncNode(nodeID: string): Promise<void>;
	disconnectNode(nodeID: string, reason: string): Promise<void>;
};

/** Merges the profile's defaults with the per-device overrides kept in the registry. */
export function mergeConfig(profile: Profile, overrides: Record<string, unknown>) {
	return {
		baudrate: profile.link.baudrate,
		protocol: profile.protocol,
		...profile.config,
		...overrides
	} as {
		baudrate?: number;
		protocol: string;
		auto_reconnect: boolean;
		buffer_size: number;
		timeout: number;
		[k: string]: unknown;
	};
}

export { unidentifiedName } from "./attach";

const deviceParams = {
	name: { type: "string", min: 1, max: 200 },
	type: { type: "string", min: 1, max: 100, optional: true },
	// Per-device overrides of the profile's configuration (auto_reconnect, buffer_size, timeout, baudrate).
	config: {
		type: "object",
		optional: true,
		props: {
			baudrate: { type: "number", integer: true, positive: true, optional: true },
			auto_reconnect: { type: "boolean", optional: true },
			buffer_size: { type: "number", integer: true, min: 64, max: 16 * 1024 * 1024, optional: true },
			timeout: { type: "number", positive: true, max: 3600, optional: true }
		}
	},
	// A user id; null: no owner (administrators only). Users may name only themselves.
	owner: { type: "number", integer: true, positive: true, max: INT32_MAX, nullable: true, optional: true },
	mac: { type: "string", pattern: /^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$/, optional: true },
	uid: { type: "string", min: 1, optional: true },
	nodeID: { type: "string", max: 200, optional: true },
	path: { type: "string", optional: true },
	vid: { type: "string", pattern: /^[0-9a-fA-F]{4}$/, optional: true },
	pid: { type: "string", pattern: /^[0-9a-fA-F]{4}$/, optional: true },
	serial: { type: "string", optional: true }
} as const;

/** What `deviceParams` lets through. */
type DeviceParams = Omit<NewDevice, "owner"> & { owner?: number | null };
/** What moleculer-web reads from a create's meta: 201 and the Location header. */
type CreatedMeta = { $statusCode?: number; $location?: string };

/** What the list's params let through: its filters and the page. */
type DeviceListParams = Omit<DeviceListFilter, "afterId" | "limit" | "owner"> & {
	owner?: number | string;
	limit?: number;
	cursor?: string;
};

const idParam = { id: { type: "number", integer: true, positive: true, max: INT32_MAX, convert: true } } as const;

const ManagerService = defineService<ManagerThis>({
	name: "manager",
	mixins: [DbMixin],
	settings: { rest: "/" },

	actions: {
		list: {
			rest: "GET /devices",
			auth: "user",
			answer: pageOf(DeviceRecord),
			params: {
				status: { type: "enum", values: [...DEVICE_STATUSES], optional: true },
				node: { type: "string", max: 200, optional: true },
				type: { type: "string", max: 100, optional: true },
				profile: { type: "string", max: 200, optional: true },
				// The owner's user id or e-mail address.
				owner: refParam(320),
				...pageParams()
			},
			/** A list page (docs/api.md): `{ items, nextCursor }`, by id, 100 a page by default. */
			async handler(this: ManagerThis, ctx: Context<DeviceListParams>): Promise<Page<DeviceRecord>> {
				const { cursor, limit = DEFAULT_PAGE, owner, ...filter } = ctx.params;
				const afterId = decodeCursor(cursor, isPositiveInt);
				const page = { limit: limit + 1, afterId, owner: await resolveUser(this.db, owner) };
				const rows = await listDevices(this.db, { ...filter, ...page }, callerOf(ctx));
				return toPage(rows.map(toDeviceRecord), limit, r => r.id);
			}
		},
		create: {
			rest: "POST /devices",
			auth: "user",
			answer: DeviceRecord,
			// Strict: a field of another name (an old snake_case one) is 422 naming it, not ignored.
			params: { ...deviceParams, $$strict: true },
			async handler(this: ManagerThis, ctx: Context<DeviceParams, CreatedMeta>): Promise<DeviceRecord> {
				const p = ctx.params;
				const caller = callerOf(ctx);
				// A device a user registers is its own; only an administrator names another owner (or none).
				const owner = await this.ownerFor(caller, p.owner, caller?.id ?? null);
				try {
					const row = await insertDevice(this.db, { ...p, owner });
					// A create answers 201 with the resource and where it lives.
					ctx.meta.$statusCode = 201;
					ctx.meta.$location = `/api/devices/${row.id}`;
					return toDeviceRecord(row);
				} catch (err) {
					if ((err as { code?: string }).code === "23505")
						throw new ConflictError("A device with this uid or MAC already exists", {
							uid: p.uid,
							mac: p.mac
						});
					throw err;
				}
			}
		},
		get: {
			rest: "GET /devices/:id",
			auth: "user",
			answer: DeviceRecord,
			params: idParam,
			async handler(this: ManagerThis, ctx: Context<{ id: number }>): Promise<DeviceRecord> {
				return toDeviceRecord(await this.deviceFor(ctx, ctx.params.id));
			}
		},
		/** The policy's "may this caller see device N" (mixins/authorization.ts requireDeviceAccess): 404 otherwise. */
		access: {
			visibility: "public",
			params: idParam,
			async handler(this: ManagerThis, ctx: Context<{ id: number }>): Promise<DeviceAccess> {
				const row = await this.deviceFor(ctx, ctx.params.id);
				return { id: row.id, owner: row.owner, name: row.name, node_id: row.node_id, status: row.status };
			}
		},
		update: {
			rest: "PUT /devices/:id",
			auth: "user",
			answer: DeviceRecord,
			params: {
				...idParam,
				name: { ...deviceParams.name, optional: true },
				type: deviceParams.type,
				config: deviceParams.config,
				owner: deviceParams.owner,
				$$strict: true
			},
			async handler(this: ManagerThis, ctx: Context<{ id: number } & DeviceChanges>): Promise<DeviceRecord> {
				const p = ctx.params;
				const before = await this.deviceFor(ctx, p.id);
				const owner =
					p.owner === undefined ? undefined : await this.ownerFor(callerOf(ctx), p.owner, before.owner);
				const row = await updateDevice(this.db, p.id, { name: p.name, type: p.type, config: p.config, owner });
				if (!row) throw deviceNotFound(p.id);
				// New overrides take effect at once on a device that is running: reopen it with them.
				const profile = this.profiles.find(x => x.name === row.profile);
				if (
					p.config &&
					profile &&
					row.node_id &&
					row.path &&
					["configured", "streaming", "error"].includes(before.status)
				) {
					const ev = {
						timestamp: new Date().toISOString(),
						action: "add",
						path: row.path,
						subsystem: row.subsystem ?? "tty",
						properties: { DEVLINKS: row.dev_link ?? undefined },
						nodeID: row.node_id
					} as DeviceHotplugEvent;
					await this.configureAndOpen(row, profile, ev, row.address ?? undefined);
				}
				return toDeviceRecord((await getDeviceRow(this.db, p.id)) ?? row);
			}
		},
		remove: {
			rest: "DELETE /devices/:id",
			auth: "user",
			answer: Deleted,
			params: idParam,
			async handler(this: ManagerThis, ctx: Context<{ id: number }>) {
				const row = await this.deviceFor(ctx, ctx.params.id);
				if (row.node_id && row.status !== "disconnected") {
					await this.broker
						.call("processor.close", { deviceId: row.id }, { nodeID: row.node_id })
						.catch(() => undefined);
				}
				await deleteDevice(this.db, row.id);
				return { id: row.id, deleted: true };
			}
		},
		status: {
			rest: "GET /devices/:id/status",
			auth: "user",
			answer: DeviceStatusView,
			params: idParam,
			async handler(this: ManagerThis, ctx: Context<{ id: number }>): Promise<DeviceStatusView> {
				const row = await this.deviceFor(ctx, ctx.params.id);
				const device = toDeviceRecord(row);
				return {
					id: device.id,
					status: device.status,
					reason: device.statusReason,
					nodeID: device.nodeID,
					updatedAt: device.updatedAt,
					events: await recentEvents(this.db, row.id)
				};
			}
		},
		addEvent: {
			rest: "POST /devices/:id/events",
			auth: "user",
			answer: DeviceEventView,
			params: {
				...idParam,
				type: { type: "string", min: 1, max: 100 },
				data: { type: "object", optional: true }
			},
			async handler(
				this: ManagerThis,
				ctx: Context<{ id: number; type: string; data?: Record<string, unknown> }>
			): Promise<DeviceEventView> {
				await this.deviceFor(ctx, ctx.params.id);
				return addEvent(this.db, ctx.params.id, ctx.params.type, ctx.params.data);
			}
		},
		profiles: {
			rest: "GET /profiles",
			auth: "user",
			params: {},
			handler(this: ManagerThis) {
				// A list (docs/api.md), plus the profile files that could not be read.
				return {
					...wholeList(this.profiles.map(({ file, ...p }) => ({ ...p, file: file.split("/").pop() }))),
					errors: this.profileErrors
				};
			}
		},
		/**
		 * Asks every detector again (after the manager was away, events may have been missed), or the one of `nodeID`
		 * (a detector node calls it when it first sees this manager: what it emitted before went to nobody).
		 */
		sync: {
			params: { nodeID: { type: "string", min: 1, optional: true } },
			async handler(this: ManagerThis, ctx: Context<{ nodeID?: string }>) {
				const nodes = this.broker.registry
					.getServiceList({ onlyAvailable: true, skipInternal: true })
					.filter(s => s.name === "detector" && (ctx.params.nodeID == null || s.nodeID === ctx.params.nodeID))
					.map(s => s.nodeID as string);
				for (const n of new Set(nodes)) await this.syncNode(n);
				return { nodes: [...new Set(nodes)] };
			}
		}
	},

	events: {
		[EVENTS.deviceAttached](this: ManagerThis, ctx: Context<DeviceHotplugEvent>) {
			const ev = ctx.params;
			return this.serial(deviceUid(ev), () => this.handleAttach(ev)).catch(err =>
				this.logger.error(`manager: attach of ${ev.path} on ${ev.nodeID} failed: ${errorMessage(err)}`)
			);
		},
		[EVENTS.deviceDetached](this: ManagerThis, ctx: Context<DeviceHotplugEvent>) {
			const ev = ctx.params;
			return this.serial(deviceUid(ev), () => this.handleDetach(ev)).catch(err =>
				this.logger.error(`manager: detach of ${ev.path} on ${ev.nodeID} failed: ${errorMessage(err)}`)
			);
		},
		/** Status reported by the processor (streaming, error, disconnected): recorded once per change. */
		async [EVENTS.deviceStatus](this: ManagerThis, ctx: Context<DeviceStatusEvent>) {
			const s = ctx.params;
			if (!s || typeof s.deviceId !== "number") return;
			await setStatus(this.db, s.deviceId, s.status, s.reason ?? null, s.nodeID ?? null).catch(err =>
				this.logger.warn(`manager: status of device ${s.deviceId}: ${errorMessage(err)}`)
			);
		},
		/** A deleted user's devices belong to no one until an administrator reassigns them. */
		async [USER_CHANGED_EVENT](this: ManagerThis, ctx: Context<UserChangedEvent>) {
			if (!ctx.params?.deleted || !Number.isInteger(ctx.params.id)) return;
			await releaseOwner(this.db, ctx.params.id).catch(err =>
				this.logger.warn(`manager: releasing devices of user ${ctx.params.id}: ${errorMessage(err)}`)
			);
		},
		/**
		 * A node left the mesh (stopped cleanly, or went silent): its devices are disconnected at
		 * once, not "streaming" on a node that is gone. A clean stop is a planned one (no offline alert).
		 */
		"$node.disconnected"(this: ManagerThis, ctx: Context<{ node: { id: string }; unexpected: boolean }>) {
			const reason = ctx.params.unexpected ? NODE_LOST : NODE_STOPPED;
			return this.disconnectNode(ctx.params.node.id, reason).catch(err =>
				this.logger.warn(`manager: devices of ${ctx.params.node.id}: ${errorMessage(err)}`)
			);
		},
		"$node.connected"(this: ManagerThis, ctx: Context<{ node: { id: string } }>) {
			// A detector node that (re)joined: pick up what it holds.
			// Its services may be announced a moment after the node itself: wait for its detector.
			const nodeID = ctx.params.node.id;
			void (async () => {
				for (let i = 0; i < 60 && !this.broker.stopping; i++) {
					if (
						this.broker.registry
							.getServiceList({ onlyAvailable: true })
							.some(s => s.name === "detector" && s.nodeID === nodeID)
					) {
						await this.syncNode(nodeID).catch(err =>
							this.logger.warn(`manager: sync of ${nodeID}: ${errorMessage(err)}`)
						);
						return;
					}
					await new Promise(r => setTimeout(r, 500));
				}
			})();
		}
	},

	methods: {
		/** Runs the handlers of one device one after the other: a fast unplug never overtakes its plug. */
		serial<T>(this: ManagerThis, key: string, fn: () => Promise<T>): Promise<T> {
			const prev = this.queues.get(key) ?? Promise.resolve();
			const next = prev.catch(() => undefined).then(fn);
			this.queues.set(key, next);
			void next.finally(() => this.queues.get(key) === next && this.queues.delete(key)).catch(() => undefined);
			return next;
		},

		/**
		 * The device if the caller may see it (the one policy), else 404: a foreign device does not exist for the
		 * caller.
		 */
		async deviceFor(this: ManagerThis, ctx: Context, id: number) {
			const row = await getDeviceRow(this.db, id);
			if (!row || !mayAccessOwner(callerOf(ctx), row.owner)) throw deviceNotFound(id);
			return row;
		},

		/** The owner a caller may set: an admin any existing user (or null), a user only itself. */
		async ownerFor(
			this: ManagerThis,
			caller: Caller | null,
			wanted: number | null | undefined,
			fallback: number | null
		) {
			if (wanted === undefined) return fallback;
			if (!isAdmin(caller)) {
				if (wanted === caller!.id && fallback === caller!.id) return wanted;
				throw new ForbiddenError("Only administrators assign a device's owner");
			}
			if (wanted === null) return null;
			const state = await this.broker.call<UserState, { id: number }>(SIGNING_ACTIONS.userState, { id: wanted });
			if (state.deleted)
				throw new UnprocessableError(`owner: there is no user ${wanted}`, [
					{ field: "owner", message: `no user ${wanted}` }
				]);
			return wanted;
		},

		/**
		 * Records and announces a status change; `force` records it even when unchanged (a new device starts as
		 * detected); `expected`: only while the device still has that status (registry.ts setStatus).
		 */
		async transition(
			this: ManagerThis,
			id: number,
			status: DeviceStatus,
			reason: string | null,
			nodeID: string | null,
			force = false,
			expected: DeviceStatus | null = null
		) {
			if (await setStatus(this.db, id, status, reason, nodeID, force, expected)) {
				const ev: DeviceStatusEvent = {
					deviceId: id,
					nodeID: nodeID ?? "",
					status,
					at: new Date().toISOString(),
					...(reason ? { reason } : {})
				};
				void this.broker.emit(EVENTS.deviceStatus, ev);
			}
		},

		async handleAttach(this: ManagerThis, ev: DeviceHotplugEvent) {
			return ev.subsystem === "i2c-dev" ? this.attachI2cBus(ev) : this.attachDevice(ev);
		},

		/** A bus, not a device: ask the processor on its node which profiled chips answer on it. */
		async attachI2cBus(this: ManagerThis, ev: DeviceHotplugEvent) {
			const { profiles, probes } = i2cProbes(this.profiles);
			let found: ChipFound[] = [];
			try {
				found = await this.broker.call("processor.probe", { path: ev.path, probes }, { nodeID: ev.nodeID });
			} catch (err) {
				this.logger.warn(`manager: cannot probe ${ev.path} on ${ev.nodeID}: ${errorMessage(err)}`);
			}
			for (const f of firstPerAddress(found)) {
				const profile = profiles.find(p => p.name === f.profile)!;
				const { row } = await upsertSeen(this.db, seenI2cChip(ev, profile, f.address));
				await this.transition(row.id, "detected", null, ev.nodeID, true);
				await this.transition(
					row.id,
					"identified",
					`profile ${profile.name} at 0x${f.address.toString(16)}`,
					ev.nodeID
				);
				await this.configureAndOpen(row, profile, ev, f.address);
			}
			if (found.length === 0) {
				const { row, created } = await upsertSeen(this.db, seenUnknownBus(ev));
				await this.transition(row.id, "detected", "no known chip answered on this bus", ev.nodeID, created);
			}
		},

		async attachDevice(this: ManagerThis, ev: DeviceHotplugEvent) {
			const profile = matchProfile(this.profiles, ev);
			const { row, created } = await upsertSeen(this.db, seenDevice(ev, profile));
			this.logger.info(
				`manager: ${created ? "new" : "known"} device #${row.id} ${row.name} at ${ev.path} on ` +
					`${ev.nodeID}${profile ? ` (profile ${profile.name})` : " (unidentified)"}`
			);
			// The USB parent of a tty shares its identity: it registers a device nobody else
			// reported, but never resets the status of the tty that is streaming.
			if (ev.subsystem === "usb" && !created) return;
			await this.transition(row.id, "detected", null, ev.nodeID, created);
			if (!profile || ev.subsystem !== "tty") return;
			await this.transition(row.id, "identified", `profile ${profile.name}`, ev.nodeID);
			await this.configureAndOpen(row, profile, ev);
		},

		async configureAndOpen(
			this: ManagerThis,
			row: DeviceRow,
			profile: Profile,
			ev: DeviceHotplugEvent,
			address?: number
		) {
			const config = mergeConfig(profile, row.config ?? {});
			const dps = await ensureDatapoints(
				this.db,
				row.id,
				profile.protocol === "modbus"
					? profile.modbus!.registers.map(r => ({
							label: r.label,
							unit: profile.datapoints.find(d => d.label === r.label)?.unit
						}))
					: profile.datapoints
			);
			const device = profile.interface === "uart" ? stablePath(ev) : ev.path;
			const request: DeviceOpenRequest = {
				deviceId: row.id,
				device,
				fallbackDevice: device !== ev.path ? ev.path : undefined,
				profile: {
					name: profile.name,
					interface: profile.interface,
					protocol: profile.protocol,
					baudrate: typeof config.baudrate === "number" ? config.baudrate : profile.link.baudrate,
					format: profile.format,
					modbus: profile.modbus ? { ...profile.modbus, poll_ms: profile.modbus.poll_ms ?? 1000 } : undefined,
					i2c: address != null ? { address, poll_ms: profile.i2c?.poll_ms } : undefined
				},
				config: {
					...config,
					auto_reconnect: !!config.auto_reconnect,
					buffer_size: Number(config.buffer_size),
					timeout: Number(config.timeout)
				},
				datapoints: [...dps].map(([label, id]) => ({
					label,
					id,
					key: profile.datapoints.find(d => d.label === label)?.key
				}))
			};
			void this.broker.emit(EVENTS.deviceConfigured, {
				deviceId: row.id,
				device,
				nodeID: ev.nodeID,
				profile: request.profile,
				config: request.config,
				timestamp: new Date().toISOString()
			});
			await this.transition(row.id, "configured", null, ev.nodeID);
			try {
				if (!(await waitForServiceOnNode(this.broker, "processor", ev.nodeID)))
					throw new Error(`no processor service runs on node ${ev.nodeID}`);
				await this.broker.call("processor.open", request, { nodeID: ev.nodeID });
			} catch (err) {
				await this.transition(
					row.id,
					"error",
					`processor.open on ${ev.nodeID}: ${errorMessage(err)}`,
					ev.nodeID
				);
			}
		},

		async handleDetach(this: ManagerThis, ev: DeviceHotplugEvent) {
			let rows: DeviceRow[];
			if (ev.subsystem === "i2c-dev") {
				rows = await findOnI2cBus(this.db, ev.nodeID, ev.path, ["i2c", "i2c-dev"]);
			} else rows = await findByUid(this.db, deviceUid(ev));
			for (const row of rows) {
				// Only the node it was last seen on may unplug it (it may have moved to another node meanwhile).
				if (row.node_id && row.node_id !== ev.nodeID) continue;
				await this.transition(row.id, "disconnected", "unplugged", ev.nodeID);
				if (row.profile && ev.subsystem !== "usb") {
					await this.broker
						.call("processor.close", { deviceId: row.id }, { nodeID: ev.nodeID })
						.catch(err => this.logger.debug(`manager: processor.close ${row.id}: ${errorMessage(err)}`));
				}
			}
		},

		async disconnectNode(this: ManagerThis, nodeID: string, reason: string) {
			for (const { id } of await liveDevicesOn(this.db, nodeID))
				await this.transition(id, "disconnected", reason, nodeID);
		},

		async syncNode(this: ManagerThis, nodeID: string) {
			const svc = this.broker.registry
				.getServiceList({ onlyAvailable: true })
				.find(s => s.name === "detector" && s.nodeID === nodeID);
			if (!svc) return;
			const res = await this.broker.call<{ devices: DeviceHotplugEvent[] }, Record<string, never>>(
				"detector.list",
				{},
				{ nodeID }
			);
			// What the processors of those devices really have open (a node that restarted has nothing
			// open, whatever the registry last heard).
			const openOn = async (node: string) => {
				const list = await this.broker
					.call<{ devices: Array<{ deviceId: number; status: DeviceStatus }> }, Record<string, never>>(
						"processor.list",
						{},
						{ nodeID: node }
					)
					.catch(() => ({ devices: [] }));
				return new Map(list.devices.map(d => [d.deviceId, d.status] as const));
			};
			for (const d of res.devices) {
				// The device's node is the one its detector names (DEVICE_NODEID), not necessarily the detector's own.
				const ev: DeviceHotplugEvent = {
					...d,
					action: "add",
					timestamp: new Date().toISOString(),
					nodeID: d.nodeID ?? nodeID
				};
				// Checked in the device's queue, after any attach already in progress: a sync never
				// restarts a stream that runs.
				await this.serial(deviceUid(ev), async () => {
					const known =
						ev.subsystem === "i2c-dev"
							? await findOnI2cBus(this.db, ev.nodeID, ev.path, ["i2c"])
							: await findByUid(this.db, deviceUid(ev));
					const running = await openOn(ev.nodeID);
					if (
						known.length &&
						known.every(
							k =>
								k.node_id === ev.nodeID &&
								(running.has(k.id) || (!k.profile && k.status === "detected"))
						)
					) {
						// Running: only catch up on status reports that were lost while no manager listened.
						// Only over the status read before processor.list: a report the processor sent
						// after answering (its first "streaming") may land first and must not be undone.
						for (const k of known)
							if (running.has(k.id))
								await this.transition(k.id, running.get(k.id)!, null, ev.nodeID, false, k.status);
						return;
					}
					await this.handleAttach(ev);
				}).catch(err => this.logger.warn(`manager: sync ${ev.path}: ${errorMessage(err)}`));
			}
		}
	},

	created(this: ManagerThis) {
		const dir = fleetEnv(this.broker).profilesDir ?? PROFILES_DIR;
		const { profiles, errors } = loadProfiles(dir);
		this.profiles = profiles;
		this.profileErrors = errors;
		this.queues = new Map();
		for (const e of errors) this.logger.error(`manager: profile ${e.file}: ${e.field}: ${e.message} (skipped)`);
		this.logger.info(`manager: ${profiles.length} device profiles from ${dir}`);
	},

	async started(this: ManagerThis) {
		const ids = loadUsbIds();
		this.logger.info(`manager: usb.ids from ${ids.source} (${ids.vendors.size} vendors)`);
		// Devices plugged while no manager ran are picked up from the detectors.
		setTimeout(
			() => void this.broker.call("manager.sync", {}, { nodeID: this.broker.nodeID }).catch(() => undefined),
			1000
		).unref();
		// Devices left "streaming" by nodes that are not in the mesh (everything stopped at once,
		// or a node that never came back): disconnected, once discovery had time to find the live ones.
		setTimeout(() => {
			void (async () => {
				const online = new Set(
					this.broker.registry.getNodeList({ onlyAvailable: true, withServices: false }).map(n => n.id)
				);
				for (const nodeID of await nodesWithLiveDevices(this.db))
					if (!online.has(nodeID)) await this.disconnectNode(nodeID, NODE_LOST);
			})().catch(err => this.logger.warn(`manager: sweeping devices of absent nodes: ${errorMessage(err)}`));
		}, 5000).unref();
	},

	/** A planned stop of this node: its own devices are disconnected now, not left "streaming". */
	async stopped(this: ManagerThis) {
		await this.disconnectNode(this.broker.nodeID, NODE_STOPPED).catch(err =>
			this.logger.warn(`manager: devices of this node at stop: ${errorMessage(err)}`)
		);
	}
});

export default ManagerService;
