/**
 * Shapes of the HTTP API's answers (docs/monitoring.md, docs/api.md): what the services return
 * and the dashboard reads. One declaration for both ends.
 */

export interface DatapointView {
	id: number;
	label: string;
	unit: string | null;
	value: number | null;
	ts: string | null;
}
export interface DeviceView {
	id: number;
	name: string;
	type: string;
	profile: string | null;
	status: string;
	nodeID: string | null;
	lastSeen: string | null;
	openAlerts: number;
	/** The owner's user id (null: administrators only). */
	owner?: number | null;
	datapoints: DatapointView[];
}
export interface AlertView {
	id: number;
	kind: string;
	ruleId?: number | null;
	deviceId: number;
	device: string;
	datapointId?: number | null;
	datapoint: string | null;
	unit?: string | null;
	severity: string;
	message: string;
	value?: number | null;
	raisedAt: string;
	clearedAt: string | null;
	acknowledgedAt: string | null;
	acknowledgedBy: string | null;
	ackComment?: string | null;
	open: boolean;
}
export interface RuleView {
	id: number;
	datapointId: number;
	deviceId?: number;
	device?: string;
	datapoint?: string;
	unit?: string | null;
	direction: "above" | "below";
	threshold: number;
	hysteresis: number;
	minDurationS: number;
	severity: string;
	enabled: boolean;
	source?: string;
}
export interface NodeView {
	id: string;
	available: boolean;
	local: boolean;
	hostname?: string;
	lastHeartbeat?: number | string | null;
	services: string[];
	uptime?: number | null;
	cpu?: number | null;
	load?: number[] | null;
	memory?: { total: number; free: number } | null;
	client?: { type?: string; version?: string; langVersion?: string } | null;
	ipList?: string[];
}
export interface StatsBucket {
	start: string;
	count: number;
	min: number | null;
	max: number | null;
	avg: number | null;
}
export interface StatsDatapoint {
	deviceId: number;
	device: string;
	datapointId: number;
	datapoint: string;
	unit: string | null;
	count: number;
	min: number | null;
	max: number | null;
	avg: number | null;
	last: number | null;
	lastTs: string | null;
	buckets?: StatsBucket[];
}
export interface StatsView {
	from: string;
	to: string;
	bucket: string | null;
	datapoints: StatsDatapoint[];
}
export interface ReadingRow {
	ts: string;
	deviceId: number;
	datapointId: number;
	datapoint: string;
	unit: string | null;
	value: number | null;
}
/** A user's role: what the `auth` levels of the routes check (mixins/authorization.ts). */
export const USER_ROLES = ["admin", "user"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A user as the API shows it (`GET /api/users`, `/users/:id`, `/users/add`, `PUT /users/:id/role`). */
export interface UserView {
	id: number;
	email: string;
	role: UserRole;
	createdAt: string;
	updatedAt: string;
}
/** `GET /api/users/me`: who the token belongs to, with the role as of now. */
export interface MeView {
	id: number;
	email: string;
	role: UserRole;
	/** When the token expires. */
	expiresAt: string | null;
}

/**
 * A device of the registry as the API shows it (`GET /api/devices`, `/devices/:id`, creates and
 * changes). `config` holds the per-device overrides of the profile's link settings under the
 * profile files' own keys (auto_reconnect, buffer_size, timeout, baudrate).
 */
export interface DeviceRecord {
	id: number;
	uid: string | null;
	name: string;
	type: string;
	profile: string | null;
	config: Record<string, unknown>;
	status: string;
	statusReason: string | null;
	/** The owning user's id; null: no one's yet (administrators only). */
	owner: number | null;
	nodeID: string | null;
	path: string | null;
	subsystem: string | null;
	vid: string | null;
	pid: string | null;
	serial: string | null;
	mac: string | null;
	portPath: string | null;
	devLink: string | null;
	address: number | null;
	/** True while the name is the one detection gave (a known device is renamed with its profile). */
	nameAuto: boolean;
	createdAt: string;
	updatedAt: string;
	lastSeen: string | null;
}
/** One lifecycle event of a device (`GET /api/devices/:id/status`, `POST /api/devices/:id/events`). */
export interface DeviceEventView {
	id?: number;
	type: string;
	status: string | null;
	reason: string | null;
	nodeID: string | null;
	data: unknown;
	at: string;
}
/** `GET /api/devices/:id/status`: the status now and the latest lifecycle events, newest first. */
export interface DeviceStatusView {
	id: number;
	status: string;
	reason: string | null;
	nodeID: string | null;
	updatedAt: string;
	events: DeviceEventView[];
}
/** A dead letter as `GET /api/pipeline/dead-letters` shows it (administrators only). */
export interface DeadLetterView {
	id: number;
	source: string;
	reason: string;
	topic: string | null;
	payload: string | null;
	data: Record<string, unknown>;
	createdAt: string;
	replayedAt: string | null;
	replayCount: number;
	lastError: string | null;
}
/** Build counters of `GET /api/builds/recent` (the build events, counted). */
export interface BuildCounts {
	requests: number;
	cacheHits: number;
	cacheMisses: number;
	successes: number;
	failures: number;
}
