/**
 * Shapes of the HTTP API's answers (docs/monitoring.md, docs/api.md): what the services return
 * and the dashboard reads. One declaration for both ends, as data (./schema.ts): each shape is a
 * JSON Schema the OpenAPI document publishes, and its TypeScript type is derived from it.
 */
import { Closed, Id, IsoTime, Nullable, Type, type Static } from "./schema";

const Str = () => Type.String();
const Num = () => Type.Number();
const Int = () => Type.Integer();
const Count = () => Type.Integer({ minimum: 0 });

export const DatapointView = Closed({
	id: Id(),
	label: Str(),
	unit: Nullable(Str()),
	value: Nullable(Num()),
	ts: Nullable(IsoTime())
});
export type DatapointView = Static<typeof DatapointView>;

/** A device of `GET /api/monitoring/devices`: status, last value of each datapoint, open alerts. */
export const DeviceView = Closed({
	id: Id(),
	name: Str(),
	type: Str(),
	profile: Nullable(Str()),
	status: Str(),
	nodeID: Nullable(Str()),
	lastSeen: Nullable(IsoTime()),
	openAlerts: Count(),
	owner: Type.Optional(Nullable(Id(), { description: "the owner's user id (null: administrators only)" })),
	datapoints: Type.Array(DatapointView)
});
export type DeviceView = Static<typeof DeviceView>;

export const AlertView = Closed({
	id: Id(),
	kind: Str(),
	ruleId: Type.Optional(Nullable(Id())),
	deviceId: Id(),
	device: Str(),
	datapointId: Type.Optional(Nullable(Id())),
	datapoint: Nullable(Str()),
	unit: Type.Optional(Nullable(Str())),
	severity: Str(),
	message: Str(),
	value: Type.Optional(Nullable(Num())),
	raisedAt: IsoTime(),
	clearedAt: Nullable(IsoTime()),
	acknowledgedAt: Nullable(IsoTime()),
	acknowledgedBy: Nullable(Str()),
	ackComment: Type.Optional(Nullable(Str())),
	open: Type.Boolean()
});
export type AlertView = Static<typeof AlertView>;

export const RuleView = Closed({
	id: Id(),
	datapointId: Id(),
	deviceId: Type.Optional(Id()),
	device: Type.Optional(Str()),
	datapoint: Type.Optional(Str()),
	unit: Type.Optional(Nullable(Str())),
	direction: Type.Union([Type.Literal("above"), Type.Literal("below")]),
	threshold: Num(),
	hysteresis: Num(),
	minDurationS: Num(),
	severity: Str(),
	enabled: Type.Boolean(),
	source: Type.Optional(Str()),
	createdBy: Type.Optional(Nullable(Str()))
});
export type RuleView = Static<typeof RuleView>;

/** One node of the mesh (`GET /api/nodes`); the figures from `$node.health` are null when it did not answer. */
export const NodeView = Closed({
	id: Str(),
	available: Type.Boolean(),
	local: Type.Boolean(),
	hostname: Type.Optional(Nullable(Str())),
	lastHeartbeat: Type.Optional(Nullable(IsoTime())),
	offlineSince: Type.Optional(Nullable(IsoTime())),
	services: Type.Array(Str()),
	uptime: Type.Optional(Nullable(Num())),
	cpu: Type.Optional(Nullable(Num())),
	load: Type.Optional(Nullable(Type.Array(Num()))),
	cores: Type.Optional(Nullable(Int())),
	memory: Type.Optional(Nullable(Closed({ total: Num(), free: Num() }))),
	processMemory: Type.Optional(Nullable(Num())),
	client: Type.Optional(
		Nullable(
			Type.Object({
				type: Type.Optional(Str()),
				version: Type.Optional(Str()),
				langVersion: Type.Optional(Str())
			})
		)
	),
	ipList: Type.Optional(Type.Array(Str()))
});
export type NodeView = Static<typeof NodeView>;

export const StatsBucket = Closed({
	start: IsoTime(),
	count: Count(),
	min: Nullable(Num()),
	max: Nullable(Num()),
	avg: Nullable(Num())
});
export type StatsBucket = Static<typeof StatsBucket>;

export const StatsDatapoint = Closed({
	deviceId: Id(),
	device: Str(),
	datapointId: Id(),
	datapoint: Str(),
	unit: Nullable(Str()),
	count: Count(),
	min: Nullable(Num()),
	max: Nullable(Num()),
	avg: Nullable(Num()),
	last: Nullable(Num()),
	lastTs: Nullable(IsoTime()),
	buckets: Type.Optional(Type.Array(StatsBucket))
});
export type StatsDatapoint = Static<typeof StatsDatapoint>;

/** `GET /api/monitoring/stats`: the window, the bucket width asked for, and each datapoint's figures. */
export const StatsView = Closed({
	from: IsoTime(),
	to: IsoTime(),
	bucket: Nullable(Str()),
	bucketFunction: Type.Optional(Nullable(Str())),
	datapoints: Type.Array(StatsDatapoint)
});
export type StatsView = Static<typeof StatsView>;

/** One reading of `GET /api/monitoring/data`, with its device's name and the datapoint's label and unit. */
export const ReadingRow = Closed({
	ts: IsoTime(),
	deviceId: Id(),
	device: Str(),
	datapointId: Id(),
	datapoint: Str(),
	unit: Nullable(Str()),
	value: Nullable(Num())
});
export type ReadingRow = Static<typeof ReadingRow>;

/** `GET /api/monitoring/data`: a list page of readings, newest first, and the window it covers. */
export const ReadingsPage = Closed({
	items: Type.Array(ReadingRow),
	nextCursor: Nullable(Str()),
	from: IsoTime(),
	to: IsoTime()
});
export type ReadingsPage = Static<typeof ReadingsPage>;

/** A user's role: what the `auth` levels of the routes check (mixins/authorization.ts). */
export const USER_ROLES = ["admin", "user"] as const;
export type UserRole = (typeof USER_ROLES)[number];
const Role = Type.Union(USER_ROLES.map(r => Type.Literal(r)) as [ReturnType<typeof Type.Literal<UserRole>>]);

/** A user as the API shows it (`GET /api/users`, `/users/:id`, `/users/add`, `PUT /users/:id/role`). */
export const UserView = Closed({
	id: Id(),
	email: Str(),
	role: Role,
	createdAt: IsoTime(),
	updatedAt: IsoTime()
});
export type UserView = Static<typeof UserView>;

/** `GET /api/users/me`: who the token belongs to, with the role as of now. */
export const MeView = Closed({
	id: Id(),
	email: Str(),
	role: Role,
	expiresAt: Nullable(IsoTime("when the token expires"))
});
export type MeView = Static<typeof MeView>;

/**
 * A device of the registry as the API shows it (`GET /api/devices`, `/devices/:id`, creates and
 * changes). `config` holds the per-device overrides of the profile's link settings under the
 * profile files' own keys (auto_reconnect, buffer_size, timeout, baudrate).
 */
export const DeviceRecord = Closed({
	id: Id(),
	uid: Nullable(Str()),
	name: Str(),
	type: Str(),
	profile: Nullable(Str()),
	config: Type.Record(Str(), Type.Unknown()),
	status: Str(),
	statusReason: Nullable(Str()),
	owner: Nullable(Id(), { description: "the owning user's id; null: no one's yet (administrators only)" }),
	nodeID: Nullable(Str()),
	path: Nullable(Str()),
	subsystem: Nullable(Str()),
	vid: Nullable(Str()),
	pid: Nullable(Str()),
	serial: Nullable(Str()),
	mac: Nullable(Str()),
	portPath: Nullable(Str()),
	devLink: Nullable(Str()),
	address: Nullable(Int()),
	nameAuto: Type.Boolean({
		description: "true while the name is the one detection gave (a known device is renamed with its profile)"
	}),
	createdAt: IsoTime(),
	updatedAt: IsoTime(),
	lastSeen: Nullable(IsoTime())
});
export type DeviceRecord = Static<typeof DeviceRecord>;

/** One lifecycle event of a device (`GET /api/devices/:id/status`, `POST /api/devices/:id/events`). */
export const DeviceEventView = Closed({
	id: Type.Optional(Id()),
	type: Str(),
	status: Nullable(Str()),
	reason: Nullable(Str()),
	nodeID: Nullable(Str()),
	data: Type.Unknown(),
	at: IsoTime()
});
export type DeviceEventView = Static<typeof DeviceEventView>;

/** `GET /api/devices/:id/status`: the status now and the latest lifecycle events, newest first. */
export const DeviceStatusView = Closed({
	id: Id(),
	status: Str(),
	reason: Nullable(Str()),
	nodeID: Nullable(Str()),
	updatedAt: IsoTime(),
	events: Type.Array(DeviceEventView)
});
export type DeviceStatusView = Static<typeof DeviceStatusView>;

/** A dead letter as `GET /api/pipeline/dead-letters` shows it (administrators only). */
export const DeadLetterView = Closed({
	id: Id(),
	source: Str(),
	reason: Str(),
	topic: Nullable(Str()),
	payload: Nullable(Str()),
	data: Type.Record(Str(), Type.Unknown()),
	createdAt: IsoTime(),
	replayedAt: Nullable(IsoTime()),
	replayCount: Count(),
	lastError: Nullable(Str())
});
export type DeadLetterView = Static<typeof DeadLetterView>;

/** Build counters of `GET /api/builds/recent` (the build events, counted). */
export const BuildCounts = Closed({
	requests: Count(),
	cacheHits: Count(),
	cacheMisses: Count(),
	successes: Count(),
	failures: Count()
});
export type BuildCounts = Static<typeof BuildCounts>;

/** One finished build of `GET /api/builds/recent` (fleetmesh's own route: camelCase, unlike the ASU ones). */
export const RecentBuild = Type.Object({
	at: IsoTime(),
	status: Type.Union([Type.Literal("done"), Type.Literal("failed")]),
	requestHash: Nullable(Str()),
	version: Nullable(Str()),
	target: Nullable(Str()),
	profile: Nullable(Str()),
	durationMs: Nullable(Num()),
	images: Type.Array(Type.Object({ name: Str(), type: Type.Optional(Str()), filesystem: Type.Optional(Str()) })),
	error: Nullable(Str())
});
export type RecentBuild = Static<typeof RecentBuild>;

/** `GET /api/builds/recent`: the dashboard's Builds view (queue, builder, recent builds, counts, per day). */
export const BuildsOverview = Closed({
	queue: Closed({ kind: Str(), waiting: Count(), active: Count() }),
	builder: Nullable(Str()),
	simulated: Type.Boolean(),
	problem: Nullable(Str()),
	items: Type.Array(RecentBuild),
	counts: BuildCounts,
	perDay: Closed({
		labels: Type.Array(Str()),
		datasets: Type.Array(Closed({ label: Str(), data: Type.Array(Count()), color: Str() }))
	})
});
export type BuildsOverview = Static<typeof BuildsOverview>;

/** `POST /api/users/auth`: the OAuth2 token response (RFC 6749 §5.1), the one answer in snake_case. */
export const TokenResponse = Closed({
	access_token: Str(),
	token_type: Type.Literal("bearer"),
	expires_in: Type.Integer({ minimum: 1, description: "seconds" })
});

/** `POST /api/users/verify-token`: whether a token is good now, and whose it is; else why not. */
export const TokenCheck = Type.Union([
	Closed({
		valid: Type.Literal(true),
		user: Closed({ id: Id(), email: Str(), role: Role }),
		expiresAt: IsoTime()
	}),
	Closed({ valid: Type.Literal(false), reason: Str(), message: Str() })
]);

/** `POST /api/users/me/password`. */
export const PasswordChanged = Closed({ changed: Type.Literal(true), sessionsRevoked: Type.Literal(true) });

/** `POST /api/users/:id/reset-password`: the new password only when the server generated it. */
export const PasswordReset = Closed({
	id: Id(),
	email: Str(),
	sessionsRevoked: Type.Literal(true),
	password: Type.Optional(Type.String({ description: "shown this once" }))
});

/** `POST /api/users/logout`. */
export const LoggedOut = Closed({ revoked: Type.Literal(true) });

/** `GET /api/certs/jwks`: the public keys tokens are checked with (RFC 7517; keys keep their own fields). */
export const Jwks = Closed({ keys: Type.Array(Type.Object({ kid: Str(), kty: Str() })) });

/** `POST /api/certs/jwks/rotate`: the key now signing, and every key still accepted. */
export const KeysRotated = Closed({ kid: Str(), keys: Type.Array(Str()) });

/** `GET /api/certs/ca`: the mesh CA certificate (PEM). */
export const CaCertificate = Closed({ cert: Str() });

/** `POST /api/certs/devices`: a device's client certificate (PEM), signed by the mesh CA. */
export const DeviceCertificate = Closed({
	commonName: Str(),
	cert: Str(),
	ca: Str(),
	serialNumber: Str(),
	notAfter: IsoTime()
});

/** `DELETE /api/monitoring/rules/:id`: a profile's rule is disabled (it would be seeded again), a user's deleted. */
export const RuleDeleted = Closed({
	id: Id(),
	deleted: Type.Boolean(),
	disabled: Type.Boolean(),
	clearedAlerts: Type.Array(Id())
});

/** `POST /api/pipeline/dead-letters/replay`: what decoded this time, and why the others did not. */
export const DeadLetterReplay = Closed({
	replayed: Count(),
	failed: Count(),
	rowsStored: Count(),
	failures: Type.Array(Closed({ id: Id(), reason: Str() }))
});
export type DeadLetterReplay = Static<typeof DeadLetterReplay>;

/** `GET /api/pipeline/decode/stats`: this decoder's counters since it started. */
export const DecodeStats = Closed({
	decodedMessages: Count(),
	readings: Count(),
	deadLetters: Count(),
	replayed: Count(),
	/** Failed attempts waited out (PostgreSQL or the next channel unreachable); nothing is dropped. */
	retries: Count()
});
export type DecodeStats = Static<typeof DecodeStats>;
