/**
 * monitoring: queries and statistics over decoded_data, threshold and offline alerts, live
 * push to Socket.IO rooms (through every gateway's live mixin), and an optional MongoDB
 * document sink (MONGO_URL).
 *
 * Readings arrive on the `telemetry.readings` channel (group "monitoring"); the pipeline sink
 * stores them, this service only reads decoded_data. Domain logic is in ./queries, ./alerts,
 * ./live and ./store; the handlers below validate, authorise and wire.
 */
import type { Context, Service } from "moleculer";
import type { Database } from "../../mixins/db.mixin";
import { DbMixin } from "../../mixins/db.mixin";
import { callerOf, deviceNotFound, mayAccessOwner, ownerCondition } from "../../mixins/authorization";
import { refParam, resolveDevice } from "../../mixins/refs";
import { idParam } from "../shared/params";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import {
	CHANNELS,
	EVENTS,
	isReading,
	readingsOf,
	type AlertEvent,
	type DeviceStatusEvent,
	type Reading
} from "../shared/contracts";
import { ConflictError, ForbiddenError, NotFoundError, UnauthorizedError, UnprocessableError } from "../shared/errors";
import {
	DEFAULT_PAGE,
	decodeCursor as decodeListCursor,
	isPositiveInt,
	pageOf,
	pageParams,
	toPage
} from "../shared/lists";
import { AlertView, DeviceView, ReadingsPage, RuleDeleted, RuleView, StatsView } from "../shared/contracts/api";
import { PROFILES_DIR } from "../shared/paths";
import {
	describeOffline,
	initialState,
	isOffline,
	profileAlertDefaults,
	type RuleState,
	type ThresholdRule
} from "./alerts";
import {
	ALERTS_ROOM,
	LIVE_PUSH_EVENT,
	RoomThrottle,
	deviceRoom,
	parseRoom,
	type LiveMessage,
	type LivePushEvent
} from "./live";
import { MongoSink } from "./mongo-sink";
import { loadProfileAlerts, type ProfileAlerts } from "./profile-alerts";
import {
	DEFAULT_DATA_WINDOW_MS,
	DEFAULT_LIMIT,
	DEFAULT_STATS_WINDOW_MS,
	MAX_LIMIT,
	MAX_STATS_WINDOW_MS,
	buildBucketQuery,
	buildDataQuery,
	buildOverviewQuery,
	buildSummaryQuery,
	checkBucketCount,
	decodeCursor,
	parseBucket,
	parseTime,
	resolveWindow,
	toDataPage,
	toStats,
	type DataRow,
	type Viewer
} from "./queries";
import {
	hasRollup,
	acknowledgeAlert,
	alertToApi,
	clearAlert,
	getAlert,
	insertProfileRules,
	insertRule,
	listAlerts,
	loadDatapointMeta,
	loadOpenAlerts,
	loadRules,
	raiseAlert,
	ruleToApi,
	silentDevices,
	updateRule,
	toRule,
	touchDevices,
	type AlertRow,
	type DatapointMeta
} from "./store";
import { errorMessage } from "../shared/error-message";
import { Backoff } from "../shared/retry";
import { SEVERITIES, type Severity } from "../shared/contracts/alerts";
import { AlertEngine, type AlertEffect } from "./engine";
import { defineService } from "../shared/define-service";

/** How long datapoint labels, units and device names are cached. */
const META_TTL_MS = 5 * 60_000;

/** Tells every monitoring instance to reload its rules (a rule changed through another node). */
const RULES_CHANGED = "monitoring.rules.changed";

type UserMeta = {
	$statusCode?: number;
	$location?: string;
	user?: Viewer & { jti?: string };
	$join?: string[];
	$leave?: string[];
};
/** An action's context; `P` is what its `params` schema lets through (unknown: the handler does not read it). */
type Ctx<P = unknown> = Context<P, UserMeta>;

interface MonitoringState {
	db: Database;
	ready: Promise<void>;
	markReady: () => void;
	bucketFn: "time_bucket" | "date_bin";
	/** Whether decoded_data has its per-minute rollup (not on a TimescaleDB hypertable). */
	rollup: boolean;
	rules: Map<number, ThresholdRule[]>;
	/** `${ruleId}:${deviceId}` → state of the rule for that device. */
	ruleStates: Map<string, RuleState>;
	meta: Map<number, DatapointMeta>;
	metaLoadedAt: number;
	unknownDatapoints: Map<number, number>;
	offlineOpen: Set<number>;
	engine: AlertEngine;
	throttle: RoomThrottle;
	profileAlerts: ProfileAlerts;
	mongo: MongoSink | null;
	offlineTimer: NodeJS.Timeout | null;
	mongoRetry: NodeJS.Timeout | null;
	stopping: boolean;
	/** When this instance started (ms): the earliest moment an offline alert may count from. */
	startedAt: number;
	counters: { batches: number; readings: number; invalid: number; mongoErrors: number };
}

type This = Service &
	MonitoringState & {
		processBatch(payload: unknown): Promise<void>;
		acceptBatch(payload: unknown): Reading[];
		applyEffect(effect: AlertEffect): Promise<void>;
		ensureMeta(ids: number[]): Promise<void>;
		reloadRules(): Promise<void>;
		applyRaise(row: AlertRow | null): Promise<void>;
		applyClear(row: AlertRow | null): Promise<void>;
		checkOffline(): Promise<void>;
		push(messages: LiveMessage[]): void;
		viewer(ctx: Ctx): Viewer | undefined;
		requireDevice(ctx: Ctx, deviceId: number): Promise<{ id: number; owner: number | null }>;
		mongoWrite(what: string, fn: (m: MongoSink) => Promise<unknown>): void;
	};

const id = idParam;
const timeParam = { type: "string", optional: true, max: 64 } as const;

/** A `device` filter: its id or its name (docs/api.md: filters take ids or names alike). */
const deviceRef = refParam();
type DeviceRefParam = { device?: number | string };
type PageQuery = { limit?: number; cursor?: string };

/** The fields of a threshold rule (create; update makes every field optional). */
const ruleParams = {
	direction: { type: "enum", values: ["above", "below"] },
	threshold: { type: "number", convert: true },
	hysteresis: { type: "number", min: 0, convert: true, optional: true },
	minDurationS: { type: "number", min: 0, max: 86_400, convert: true, optional: true },
	severity: { type: "enum", values: [...SEVERITIES], optional: true },
	enabled: { type: "boolean", convert: true, optional: true }
} as const;
type RuleFields = {
	direction: "above" | "below";
	threshold: number;
	hysteresis?: number;
	minDurationS?: number;
	severity?: Severity;
	enabled?: boolean;
};

/** Filters shared by the readings routes: datapoint (id or label), time window, page size and cursor. */
const readingsFilterParams = {
	datapoint: [
		{ type: "number", integer: true, positive: true, convert: true, optional: true },
		{ type: "string", min: 1, max: 100, optional: true }
	],
	from: timeParam,
	to: timeParam,
	limit: { type: "number", integer: true, min: 1, max: MAX_LIMIT, convert: true, optional: true },
	cursor: { type: "string", max: 200, optional: true }
};
type ReadingsFilter = PageQuery & { datapoint?: number | string; from?: string; to?: string };
type StatsQuery = DeviceRefParam & { datapoint?: number | string; from?: string; to?: string; bucket?: string };
type AlertsQuery = PageQuery &
	DeviceRefParam & { status?: "open" | "cleared" | "unacknowledged" | "all"; severity?: Severity };

/** The alert.* event payload (contracts/alerts.ts) for an alert, at the moment of its change. */
function alertEvent(alert: ReturnType<typeof alertToApi>, at: string): AlertEvent {
	return {
		alertId: alert.id,
		deviceId: alert.deviceId,
		datapoint: alert.datapoint ?? alert.kind,
		severity: alert.severity,
		message: alert.message,
		at
	};
}

const MonitoringService = defineService<This>({
	name: "monitoring",
	mixins: [DbMixin],
	settings: { rest: "/monitoring" },

	channels: {
		[CHANNELS.telemetryReadings]: {
			group: "monitoring",
			async handler(this: This, payload: unknown) {
				await this.ready;
				await this.processBatch(payload);
			}
		}
	},

	events: {
		[EVENTS.deviceStatus](this: This, ctx: Context<DeviceStatusEvent>) {
			const s = ctx.params;
			if (!s || !Number.isInteger(s.deviceId)) return;
			this.push([{ room: deviceRoom(s.deviceId), event: "device.status", data: s }]);
		},
		[RULES_CHANGED](this: This) {
			return this.reloadRules();
		}
	},

	actions: {
		/** GET /api/monitoring/data — readings, newest first, with labels and units; keyset paging by cursor. */
		data: {
			rest: "GET /data",
			answer: ReadingsPage,
			params: {
				device: deviceRef,
				...readingsFilterParams
			},
			async handler(this: This, ctx: Ctx<ReadingsFilter & DeviceRefParam>) {
				const p = ctx.params;
				const window = resolveWindow(
					parseTime(p.from, "from"),
					parseTime(p.to, "to"),
					DEFAULT_DATA_WINDOW_MS,
					Number.MAX_SAFE_INTEGER
				);
				const limit = p.limit ?? DEFAULT_LIMIT;
				const dp = p.datapoint;
				const q = buildDataQuery({
					deviceId: await resolveDevice(this.db, p.device, callerOf(ctx)),
					datapointId: typeof dp === "number" ? dp : /^\d+$/.test(dp ?? "") ? Number(dp) : undefined,
					datapoint: typeof dp === "string" && !/^\d+$/.test(dp) ? dp : undefined,
					window,
					limit,
					cursor: p.cursor ? decodeCursor(p.cursor) : undefined,
					viewer: this.viewer(ctx)
				});
				return toDataPage(await this.db.query<DataRow>(q.text, q.values), limit, window);
			}
		},

		/** GET /api/monitoring/data/:deviceId — one device's readings (404 for an unknown or foreign device). */
		deviceData: {
			rest: "GET /data/:deviceId",
			answer: ReadingsPage,
			params: {
				deviceId: id,
				...readingsFilterParams
			},
			async handler(this: This, ctx: Ctx<ReadingsFilter & { deviceId: number }>) {
				await this.requireDevice(ctx, ctx.params.deviceId);
				const { deviceId, ...rest } = ctx.params;
				return ctx.call("monitoring.data", { ...rest, device: deviceId }, { meta: ctx.meta });
			}
		},

		/**
		 * GET /api/monitoring/stats — per datapoint count/min/max/avg/last over a window, and buckets when `bucket` is
		 * given.
		 */
		stats: {
			rest: "GET /stats",
			answer: StatsView,
			params: {
				device: deviceRef,
				datapoint: [
					{ type: "number", integer: true, positive: true, convert: true, optional: true },
					{ type: "string", min: 1, max: 100, optional: true }
				],
				from: timeParam,
				to: timeParam,
				bucket: { type: "string", max: 32, optional: true }
			},
			async handler(this: This, ctx: Ctx<StatsQuery>) {
				const p = ctx.params;
				const window = resolveWindow(
					parseTime(p.from, "from"),
					parseTime(p.to, "to"),
					DEFAULT_STATS_WINDOW_MS,
					MAX_STATS_WINDOW_MS
				);
				const bucketMs = p.bucket ? parseBucket(p.bucket) : undefined;
				if (bucketMs) checkBucketCount(window, bucketMs);
				const dp = p.datapoint;
				const filter = {
					deviceId: await resolveDevice(this.db, p.device, callerOf(ctx)),
					datapointId: typeof dp === "number" ? dp : /^\d+$/.test(dp ?? "") ? Number(dp) : undefined,
					datapoint: typeof dp === "string" && !/^\d+$/.test(dp) ? dp : undefined,
					window,
					viewer: this.viewer(ctx),
					bucketFn: this.bucketFn,
					rollup: this.rollup
				};
				const summary = buildSummaryQuery(filter);
				const [rows, buckets] = await Promise.all([
					this.db.query(summary.text, summary.values),
					bucketMs
						? (() => {
								const q = buildBucketQuery({ ...filter, bucketMs });
								return this.db.query(q.text, q.values);
							})()
						: Promise.resolve(null)
				]);
				return {
					from: window.from.toISOString(),
					to: window.to.toISOString(),
					bucket: p.bucket ?? null,
					bucketFunction: bucketMs ? this.bucketFn : null,
					datapoints: toStats(rows, buckets)
				};
			}
		},

		/**
		 * GET /api/monitoring/devices — the viewer's devices with status, profile, last values and open alerts (the
		 * dashboard's list).
		 */
		devices: {
			rest: "GET /devices",
			answer: pageOf(DeviceView),
			params: { device: deviceRef, ...pageParams(MAX_LIMIT) },
			async handler(this: This, ctx: Ctx<PageQuery & DeviceRefParam>) {
				const limit = ctx.params.limit ?? DEFAULT_PAGE;
				const q = buildOverviewQuery(
					this.viewer(ctx),
					await resolveDevice(this.db, ctx.params.device, callerOf(ctx)),
					{
						afterId: decodeListCursor(ctx.params.cursor, isPositiveInt),
						limit: limit + 1
					}
				);
				const rows = await this.db.query(q.text, q.values);
				return toPage(
					rows.map(r => ({
						id: Number(r.id),
						name: r.name,
						type: r.type,
						profile: r.profile,
						status: r.status,
						nodeID: r.node_id,
						owner: r.owner ?? null,
						lastSeen: r.last_seen,
						openAlerts: Number(r.open_alerts),
						datapoints: (typeof r.datapoints === "string" ? JSON.parse(r.datapoints) : r.datapoints).map(
							(d: { id: unknown; label: string; unit: string | null; value: unknown; ts: string }) => ({
								id: Number(d.id),
								label: d.label,
								unit: d.unit,
								value: d.value == null ? null : Number(d.value),
								ts: d.ts
							})
						)
					})),
					limit,
					d => d.id
				);
			}
		},

		/** GET /api/monitoring/alerts — newest first; status open|cleared|unacknowledged|all. */
		alerts: {
			rest: "GET /alerts",
			answer: pageOf(AlertView),
			params: {
				status: { type: "enum", values: ["open", "cleared", "unacknowledged", "all"], optional: true },
				device: deviceRef,
				severity: { type: "enum", values: [...SEVERITIES], optional: true },
				...pageParams(MAX_LIMIT)
			},
			async handler(this: This, ctx: Ctx<AlertsQuery>) {
				const p = ctx.params;
				const limit = p.limit ?? DEFAULT_PAGE;
				const rows = await listAlerts(this.db, {
					status: p.status ?? "all",
					deviceId: await resolveDevice(this.db, p.device, callerOf(ctx)),
					severity: p.severity,
					limit: limit + 1,
					beforeId: decodeListCursor(p.cursor, isPositiveInt),
					viewer: this.viewer(ctx)
				});
				return toPage(rows.map(alertToApi), limit, a => a.id);
			}
		},

		/** POST /api/monitoring/alerts/:id/ack — acknowledge (idempotent: the first acknowledgement is kept). */
		ack: {
			rest: "POST /alerts/:id/ack",
			answer: AlertView,
			params: { id, comment: { type: "string", max: 500, trim: true, optional: true } },
			async handler(this: This, ctx: Ctx<{ id: number; comment?: string }>) {
				const existing = await getAlert(this.db, ctx.params.id);
				if (!existing || !mayAccessOwner(callerOf(ctx), existing.owner))
					throw new NotFoundError("Alert", ctx.params.id);
				const by = ctx.meta.user?.email ?? String(ctx.meta.user?.id ?? "system");
				const res = await acknowledgeAlert(this.db, ctx.params.id, by, ctx.params.comment || null);
				if (!res) throw new NotFoundError("Alert", ctx.params.id);
				const alert = alertToApi(res.row);
				if (res.changed) {
					const ev: AlertEvent & { acknowledgedBy: string } = {
						...alertEvent(alert, alert.acknowledgedAt ?? new Date().toISOString()),
						acknowledgedBy: by
					};
					this.broker.emit(EVENTS.alertAcknowledged, ev);
					this.push([
						{ room: ALERTS_ROOM, event: "alert", data: alert },
						{ room: deviceRoom(alert.deviceId), event: "alert", data: alert }
					]);
					this.mongoWrite("acknowledge", m =>
						m.updateAlert(alert.id, { acknowledged: true, acknowledged_at: new Date(ev.at) })
					);
				}
				return alert;
			}
		},

		/** GET /api/monitoring/rules — threshold rules of the viewer's devices. */
		rules: {
			rest: "GET /rules",
			answer: pageOf(RuleView),
			params: { device: deviceRef, datapoint: refParam(100), ...pageParams(MAX_LIMIT) },
			async handler(this: This, ctx: Ctx<PageQuery & DeviceRefParam & { datapoint?: number | string }>) {
				const where: string[] = [];
				const params: unknown[] = [];
				const limit = ctx.params.limit ?? DEFAULT_PAGE;
				const device = await resolveDevice(this.db, ctx.params.device, callerOf(ctx));
				if (device != null) where.push(`dp.device_id = $${params.push(device)}`);
				const after = decodeListCursor(ctx.params.cursor, isPositiveInt);
				if (after) where.push(`r.id > $${params.push(after)}`);
				// A datapoint id, or a label: that datapoint of every device (of the one device with `device`).
				const dp = ctx.params.datapoint;
				if (typeof dp === "number" || /^\d+$/.test(dp ?? ""))
					where.push(`r.datapoint_id = $${params.push(Number(dp))}`);
				else if (dp) where.push(`lower(dp.label) = lower($${params.push(dp)})`);
				const own = ownerCondition(callerOf(ctx), "owner", v => `$${params.push(v)}`);
				if (own) where.push(`dp.device_id IN (SELECT id FROM devices WHERE ${own})`);
				const rows = await loadRules(
					this.db,
					where.length ? `WHERE ${where.join(" AND ")}` : "",
					params,
					limit + 1
				);
				return toPage(rows.map(ruleToApi), limit, r => r.id);
			}
		},

		/** POST /api/monitoring/rules — a threshold rule on one datapoint of a device the caller may see. */
		createRule: {
			rest: "POST /rules",
			answer: RuleView,
			params: { datapointId: id, ...ruleParams },
			async handler(this: This, ctx: Ctx<{ datapointId: number } & RuleFields>) {
				const p = ctx.params;
				const [meta] = await loadDatapointMeta(this.db, [p.datapointId]);
				if (!meta || !mayAccessOwner(callerOf(ctx), meta.owner))
					throw new NotFoundError("Datapoint", p.datapointId);
				const row = await insertRule(this.db, {
					datapointId: p.datapointId,
					direction: p.direction,
					threshold: p.threshold,
					hysteresis: p.hysteresis ?? 0,
					minDurationS: p.minDurationS ?? 0,
					severity: p.severity ?? "warning",
					enabled: p.enabled ?? true,
					createdBy: ctx.meta.user?.email ?? null
				});
				this.broker.broadcast(RULES_CHANGED, { ruleId: row.id });
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/monitoring/rules/${row.id}`;
				return ruleToApi(row);
			}
		},

		/**
		 * PUT /api/monitoring/rules/:id — changes a rule's threshold, direction, hysteresis, duration, severity or
		 * enabled flag.
		 */
		updateRule: {
			rest: "PUT /rules/:id",
			answer: RuleView,
			params: {
				id,
				direction: { ...ruleParams.direction, optional: true },
				threshold: { ...ruleParams.threshold, optional: true },
				hysteresis: ruleParams.hysteresis,
				minDurationS: ruleParams.minDurationS,
				severity: ruleParams.severity,
				enabled: ruleParams.enabled
			},
			async handler(this: This, ctx: Ctx<{ id: number } & Partial<RuleFields>>) {
				const { id: ruleId, ...changes } = ctx.params;
				const [rule] = await loadRules(this.db, "WHERE r.id = $1", [ruleId]);
				const owner = rule ? (await loadDatapointMeta(this.db, [rule.datapoint_id]))[0]?.owner : null;
				if (!rule || !mayAccessOwner(callerOf(ctx), owner)) throw new NotFoundError("Rule", ruleId);
				let row;
				try {
					row = await updateRule(this.db, ruleId, changes);
				} catch (err) {
					if ((err as { code?: string }).code === "23505")
						throw new ConflictError("This datapoint already has a profile rule in that direction", {
							field: "direction"
						});
					throw err;
				}
				if (!row) throw new NotFoundError("Rule", ruleId);
				this.broker.broadcast(RULES_CHANGED, { ruleId });
				return ruleToApi(row);
			}
		},

		/**
		 * DELETE /api/monitoring/rules/:id — removes a user rule and clears its open alerts (their
		 * history stays). A rule from a device profile is disabled instead, so it is not seeded again.
		 */
		deleteRule: {
			rest: "DELETE /rules/:id",
			answer: RuleDeleted,
			params: { id },
			async handler(this: This, ctx: Ctx<{ id: number }>) {
				const [rule] = await loadRules(this.db, "WHERE r.id = $1", [ctx.params.id]);
				const owner = rule ? (await loadDatapointMeta(this.db, [rule.datapoint_id]))[0]?.owner : null;
				if (!rule || !mayAccessOwner(callerOf(ctx), owner)) throw new NotFoundError("Rule", ctx.params.id);
				const cleared = await this.db.transaction(async tx => {
					const rows = await tx.query<{ id: number }>(
						"UPDATE alerts SET cleared_at = now() WHERE rule_id = $1 AND cleared_at IS NULL RETURNING id",
						[rule.id]
					);
					if (rule.source === "profile")
						await tx.query("UPDATE alert_rules SET enabled = false WHERE id = $1", [rule.id]);
					else await tx.query("DELETE FROM alert_rules WHERE id = $1", [rule.id]);
					return rows.map(r => Number(r.id));
				});
				for (const alertId of cleared) await this.applyClear(await getAlert(this.db, alertId));
				this.broker.broadcast(RULES_CHANGED, { ruleId: rule.id });
				return {
					id: rule.id,
					deleted: rule.source !== "profile",
					disabled: rule.source === "profile",
					clearedAlerts: cleared
				};
			}
		},

		/**
		 * Socket.IO only (whitelisted on the gateway): join live rooms. `device:<id>` for a device
		 * the user may see (admins: all, others: devices they own), `alerts` for admins. All or
		 * nothing: one forbidden room refuses the whole request.
		 */
		join: {
			params: { rooms: { type: "array", items: { type: "string", max: 64 }, min: 1, max: 500 } },
			async handler(this: This, ctx: Ctx<{ rooms: string[] }>) {
				const user = ctx.meta.user;
				if (!user) throw new UnauthorizedError();
				const rooms = [...new Set(ctx.params.rooms)];
				const deviceIds: number[] = [];
				for (const room of rooms) {
					const r = parseRoom(room);
					if (!r)
						throw new UnprocessableError(`'${room}' is not a room (expected device:<id> or alerts)`, {
							room
						});
					if (r.kind === "alerts" && !user.is_admin)
						throw new ForbiddenError(
							"Only administrators may join the alerts room; alerts of your devices come in " +
								"their device rooms"
						);
					if (r.kind === "device") deviceIds.push(r.deviceId);
				}
				if (deviceIds.length) {
					const rows = await this.db.query<{ id: number; owner: number | null }>(
						"SELECT id, owner FROM devices WHERE id = ANY($1::int[])",
						[deviceIds]
					);
					const found = new Map(rows.map(r => [Number(r.id), r.owner]));
					for (const d of deviceIds) {
						// 404, as over HTTP: a room of a device the caller may not see does not exist for it.
						if (!found.has(d) || !mayAccessOwner(callerOf(ctx), found.get(d))) throw deviceNotFound(d);
					}
				}
				ctx.meta.$join = rooms;
				return { joined: rooms };
			}
		},

		/** Socket.IO only: leave rooms. */
		leave: {
			params: { rooms: { type: "array", items: { type: "string", max: 64 }, min: 1, max: 500 } },
			handler(this: This, ctx: Ctx<{ rooms: string[] }>) {
				if (!ctx.meta.user) throw new UnauthorizedError();
				ctx.meta.$leave = ctx.params.rooms;
				return { left: ctx.params.rooms };
			}
		}
	},

	methods: {
		viewer(ctx: Ctx): Viewer | undefined {
			// Calls from other services carry no user: they see everything. HTTP and socket calls
			// always carry one (the gateway refuses them otherwise).
			return ctx.meta.user;
		},

		async requireDevice(this: This, ctx: Ctx, deviceId: number) {
			const [row] = await this.db.query<{ id: number; owner: number | null }>(
				"SELECT id, owner FROM devices WHERE id = $1",
				[deviceId]
			);
			if (!row || !mayAccessOwner(callerOf(ctx), row.owner)) throw deviceNotFound(deviceId);
			return row;
		},

		push(this: This, messages: LiveMessage[]) {
			if (!messages.length) return;
			// broadcast, not emit: every gateway node relays to its own sockets.
			const ev: LivePushEvent = { messages };
			this.broker.broadcast(LIVE_PUSH_EVENT, ev);
		},

		mongoWrite(this: This, what: string, fn: (m: MongoSink) => Promise<unknown>) {
			if (!this.mongo) return;
			fn(this.mongo).catch(err => {
				this.counters.mongoErrors++;
				this.logger.warn(`MongoDB ${what} failed (PostgreSQL keeps the data): ${errorMessage(err)}`);
			});
		},

		async ensureMeta(this: This, ids: number[]) {
			const now = Date.now();
			// Labels, units and names change rarely; re-read them every few minutes.
			if (now - this.metaLoadedAt > META_TTL_MS) {
				this.meta.clear();
				this.unknownDatapoints.clear();
				this.metaLoadedAt = now;
			}
			const missing = ids.filter(i => !this.meta.has(i) && !((this.unknownDatapoints.get(i) ?? 0) > now));
			if (!missing.length) return;
			const found = await loadDatapointMeta(this.db, missing);
			// Ids not in the registry are not looked up again for a while (a flood of them costs one query).
			const foundIds = new Set(found.map(m => m.id));
			for (const i of missing) if (!foundIds.has(i)) this.unknownDatapoints.set(i, now + 30_000);
			let seeded = 0;
			for (const m of found) {
				this.meta.set(m.id, m);
				// Alert defaults: the datapoint's own decoding.alert, else its profile's datapoint entry.
				const fromProfile = m.profile ? this.profileAlerts.byProfile.get(m.profile)?.get(m.label) : undefined;
				const own = profileAlertDefaults(m.decoding).defaults;
				const defaults = own.length ? own : (fromProfile ?? []);
				if (defaults.length) seeded += await insertProfileRules(this.db, m.id, defaults);
			}
			if (seeded) await this.reloadRules();
		},

		async reloadRules(this: This) {
			const rows = await loadRules(this.db, "WHERE r.enabled");
			const rules = new Map<number, ThresholdRule[]>();
			for (const r of rows) {
				const rule = toRule(r);
				let list = rules.get(rule.datapointId);
				if (!list) rules.set(rule.datapointId, (list = []));
				list.push(rule);
			}
			this.rules = rules;
		},

		async processBatch(this: This, payload: unknown) {
			const readings = this.acceptBatch(payload);
			if (!readings.length) return;
			this.counters.batches++;
			this.counters.readings += readings.length;
			await this.ensureMeta([...new Set(readings.map(r => r.datapointId))]);
			// Without MongoDB there is nowhere to put the document copies: the engine makes none.
			const effects = this.engine.ingest(readings, { copies: this.mongo !== null });
			for (const effect of effects) {
				// A live point (one per reading: most effects by far) is in memory only: no promise each.
				if (effect.type === "live") this.throttle.add(effect.deviceId, effect.reading);
				else await this.applyEffect(effect);
			}
		},

		/** The valid readings of a telemetry.readings message; what is not valid is counted and logged. */
		acceptBatch(this: This, payload: unknown): Reading[] {
			let list: unknown[];
			try {
				list = readingsOf(payload);
			} catch (err) {
				// Not a telemetry batch: nothing here to alert on. The pipeline sink dead-letters it.
				this.counters.invalid++;
				this.logger.warn(`telemetry.readings: ${errorMessage(err)}; ignored by monitoring`);
				return [];
			}
			const readings = list.filter(isReading);
			if (readings.length !== list.length) {
				this.counters.invalid += list.length - readings.length;
				this.logger.warn(
					`telemetry.readings: ${list.length - readings.length} malformed reading(s) ignored by monitoring`
				);
			}
			return readings;
		},

		async applyEffect(this: This, effect: AlertEffect) {
			switch (effect.type) {
				case "live":
					return this.throttle.add(effect.deviceId, effect.reading);
				case "raise":
					return this.applyRaise(await raiseAlert(this.db, effect.alert));
				case "clear":
					if (effect.kind === "offline") this.offlineOpen.delete(effect.deviceId);
					return this.applyClear(
						await clearAlert(this.db, effect.kind, effect.ruleId, effect.deviceId, effect.at)
					);
				case "touch":
					return touchDevices(this.db, effect.deviceIds);
				case "store":
					return this.mongoWrite("readings", m => m.writeReadings(effect.readings));
			}
		},

		async applyRaise(this: This, row: AlertRow | null) {
			if (!row) return; // already open: deduplicated
			const alert = alertToApi(row);
			if (alert.kind === "offline") this.offlineOpen.add(alert.deviceId);
			const ev = alertEvent(alert, alert.raisedAt);
			this.logger.info(`alert raised: #${alert.id} ${alert.severity} ${alert.message}`);
			this.broker.emit(EVENTS.alertRaised, ev);
			this.push([
				{ room: ALERTS_ROOM, event: "alert", data: alert },
				{ room: deviceRoom(alert.deviceId), event: "alert", data: alert }
			]);
			this.mongoWrite("alert", m =>
				m.writeAlert({
					alert_id: alert.id,
					device_id: alert.deviceId,
					alert_type: alert.kind,
					severity: alert.severity,
					datapoint: alert.datapoint,
					message: alert.message,
					timestamp: new Date(alert.raisedAt),
					acknowledged: false,
					acknowledged_at: null,
					cleared_at: null
				})
			);
		},

		async applyClear(this: This, row: AlertRow | null) {
			if (!row) return;
			const alert = alertToApi(row);
			if (alert.kind === "offline") this.offlineOpen.delete(alert.deviceId);
			const ev = alertEvent(alert, alert.clearedAt ?? new Date().toISOString());
			this.logger.info(`alert cleared: #${alert.id} ${alert.message}`);
			this.broker.emit(EVENTS.alertCleared, ev);
			this.push([
				{ room: ALERTS_ROOM, event: "alert", data: alert },
				{ room: deviceRoom(alert.deviceId), event: "alert", data: alert }
			]);
			this.mongoWrite("alert clear", m => m.updateAlert(alert.id, { cleared_at: new Date(ev.at) }));
		},

		async checkOffline(this: This) {
			const rows = await silentDevices(this.db, fleetEnv(this.broker).offlineAfterS);
			for (const r of rows) {
				// Monitoring's own start counts as a sighting: after a restart of the whole system the
				// devices get one interval to report before they are called offline.
				const seen = Math.max(Number(r.last_seen_ms), Number(r.now_ms) - (Date.now() - this.startedAt));
				if (!isOffline(seen, Number(r.interval_s) * 1000, Number(r.now_ms))) continue;
				await this.applyRaise(
					await raiseAlert(this.db, {
						kind: "offline",
						ruleId: null,
						deviceId: Number(r.device_id),
						datapointId: null,
						severity: "warning",
						message: describeOffline(r.name, Number(r.last_seen_ms), Number(r.now_ms)),
						value: null,
						at: new Date(Number(r.now_ms))
					})
				);
			}
		}
	},

	created(this: This) {
		const env = fleetEnv(this.broker);
		// Channel messages may arrive before started() has loaded rules and state: they wait for this.
		this.ready = new Promise<void>(r => (this.markReady = r));
		this.bucketFn = "date_bin";
		this.rollup = false;
		this.rules = new Map();
		this.ruleStates = new Map();
		this.meta = new Map();
		this.metaLoadedAt = Date.now();
		this.unknownDatapoints = new Map();
		this.offlineOpen = new Set();
		this.engine = new AlertEngine(this);
		this.mongo = null;
		this.offlineTimer = null;
		this.mongoRetry = null;
		this.stopping = false;
		this.counters = { batches: 0, readings: 0, invalid: 0, mongoErrors: 0 };
		this.throttle = new RoomThrottle(env.liveThrottleMs, messages => this.push(messages));
		this.profileAlerts = { byProfile: new Map(), problems: [] };
	},

	async started(this: This) {
		const env = fleetEnv(this.broker);
		this.startedAt = Date.now();
		const [ts] = await this.db.query("SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'");
		this.bucketFn = Number(ts?.n) > 0 ? "time_bucket" : "date_bin";
		this.rollup = await hasRollup(this.db);
		this.profileAlerts = loadProfileAlerts(env.profilesDir ?? PROFILES_DIR);
		for (const p of this.profileAlerts.problems) this.logger.warn(`profile alert defaults: ${p}`);
		await this.reloadRules();
		const open = await loadOpenAlerts(this.db);
		for (const a of open.threshold) this.ruleStates.set(`${a.ruleId}:${a.deviceId}`, initialState(true));
		for (const d of open.offline) this.offlineOpen.add(d);

		if (env.mongoUrl) {
			// Optional sink, connected in the background: a MongoDB that is down or late never
			// delays or stops monitoring; /ready says whether it is connected.
			const sink = new MongoSink(env.mongoUrl);
			let lastError = "connecting";
			registerHealthCheck(this.broker, "mongodb", async () => {
				if (!this.mongo) throw new Error(`MongoDB not connected: ${lastError}`);
				await this.mongo.ping();
				return "monitoring_data, device_alerts";
			});
			const backoff = new Backoff(5000, 60_000);
			const attempt = () => {
				sink.start().then(
					() => {
						this.mongo = sink;
						this.logger.info("monitoring: MongoDB document sink on (monitoring_data, device_alerts)");
					},
					err => {
						lastError = errorMessage(err);
						const delay = backoff.next();
						this.logger.warn(
							`monitoring: MongoDB sink not connected (${lastError}); retrying in ` +
								`${Math.round(delay / 1000)} s`
						);
						if (!this.stopping) this.mongoRetry = setTimeout(attempt, delay);
					}
				);
			};
			attempt();
		}

		// Check often enough that an offline alert comes within a few seconds of the deadline.
		const every = Math.min(5000, Math.max(250, (env.offlineAfterS * 1000) / 4));
		const tick = () => {
			this.checkOffline()
				.catch(err => this.logger.warn(`offline check failed: ${errorMessage(err)}`))
				.finally(() => {
					if (this.offlineTimer) this.offlineTimer = setTimeout(tick, every);
				});
		};
		this.offlineTimer = setTimeout(tick, every);
		this.markReady();
	},

	async stopped(this: This) {
		this.stopping = true;
		if (this.mongoRetry) clearTimeout(this.mongoRetry);
		const t = this.offlineTimer;
		this.offlineTimer = null;
		if (t) clearTimeout(t);
		this.throttle?.stop();
		await this.mongo?.stop().catch(() => undefined);
	}
});

export default MonitoringService;
