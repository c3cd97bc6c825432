/**
 * Environment parsing for every fleetmesh node.
 *
 * Every variable a node reads is read here, once, and validated: a bad value
 * becomes a ConfigError that names the variable, so the node can stop with one
 * clear line instead of a stack trace from deep inside a driver.
 */
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";

export class ConfigError extends Error {
	constructor(
		readonly variable: string,
		message: string
	) {
		super(`${variable}: ${message}`);
		this.name = "ConfigError";
		// Where in the code a bad variable was noticed helps no one: keep logs to the one line.
		this.stack = `${this.name}: ${this.message}`;
	}
}

export type TransporterConfig = { kind: "none" } | { kind: "TCP" } | { kind: "NATS"; url: string };

/** The node and its place in the mesh. */
export interface NodeEnv {
	services: string[] | null;
	nodeID: string;
	/**
	 * The node whose processor serves this host's devices (DEVICE_NODEID): device payloads carry it. Defaults to
	 * nodeID; differs when the detector runs in its own privileged container.
	 */
	deviceNodeID: string;
	namespace: string;
	transporter: TransporterConfig;
	/** A non-loopback NATS URL without credentials is allowed on purpose (MESH_INSECURE=1). */
	meshInsecure: boolean;
	/** fatal, error, warn, info, debug, trace (LOGLEVEL). */
	logLevel: LogLevel;
	/** `json` or `short` (LOG_FORMAT); default json unless stdout is a terminal. */
	logFormat: "json" | "short" | null;
	/** Milliseconds a remote call may take before it fails (REQUEST_TIMEOUT_MS). */
	requestTimeoutMs: number;
	/**
	 * Calls of one action that may wait for a free slot of its bulkhead; past it 503 + Retry-After (BULKHEAD_QUEUE).
	 */
	bulkheadQueue: number;
	/** Moleculer metrics on (METRICS=0 turns them off). */
	metrics: boolean;
	/** A standalone Prometheus listener on this port besides the gateway's /metrics (METRICS_PORT). */
	metricsPort: number | null;
	/** Tracing exporter, off when null (TRACING=Console|Event|Jaeger|Zipkin|Datadog|Newrelic). */
	tracing: TracingExporter | null;
	/** JetStream stream replicas (CHANNELS_REPLICAS: 1, or 3 on a NATS cluster). */
	channelsReplicas: number;
	/** Serializer of the mesh's packets (SERIALIZER); every node of a mesh must use the same. */
	serializer: Serializer;
	/**
	 * JetStream: a delivered message not acknowledged within this long (and not reported as still in work) goes to
	 * another consumer (CHANNELS_ACK_WAIT_MS).
	 */
	channelsAckWaitMs: number;
}

/**
 * Mesh packet serializers Moleculer ships. JSON is the default: measured with bench/mesh (see
 * docs/performance.md, "Mesh") it costs less CPU per remote call than the binary ones, which
 * also need a package of their own on every node (the ones Moleculer 0.14 requires: msgpack5,
 * notepack.io, cbor-x; devDependencies here, for the benchmark).
 */
export const SERIALIZERS = ["JSON", "MsgPack", "Notepack", "CBOR"] as const;
export type Serializer = (typeof SERIALIZERS)[number];
const SERIALIZER_PACKAGES: Record<Serializer, string | null> = {
	JSON: null,
	MsgPack: "msgpack5",
	Notepack: "notepack.io",
	CBOR: "cbor-x"
};

/** `resolve` is require.resolve; a test passes one that finds nothing (a production install without the package). */
export function parseSerializer(env: Env, resolve: (pkg: string) => string = require.resolve): Serializer {
	const choice = parseChoice(env, "SERIALIZER", SERIALIZERS, "JSON", true);
	const pkg = SERIALIZER_PACKAGES[choice];
	if (pkg) {
		try {
			resolve(pkg);
		} catch {
			throw new ConfigError(
				"SERIALIZER",
				`${choice} needs the '${pkg}' package (npm install ${pkg}), which is not installed`
			);
		}
	}
	return choice;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const TRACING_EXPORTERS = [
	"Console",
	"Event",
	"EventLegacy",
	"Jaeger",
	"Zipkin",
	"Datadog",
	"Newrelic"
] as const;
export type TracingExporter = (typeof TRACING_EXPORTERS)[number];

/** Where data lives: databases, brokers, the data directory. */
export interface StorageEnv {
	databaseUrl: string | null;
	redisUrl: string | null;
	mqttUrl: string | null;
	mongoUrl: string | null;
	dataDir: string;
	/** How long the first database connection may take before the node gives up (DB_CONNECT_TIMEOUT_MS). */
	dbConnectTimeoutMs: number;
	/** Connections of the PostgreSQL pool (DB_POOL_MAX); database-bound actions run as many at once. */
	dbPoolMax: number;
	/**
	 * Redis Streams only: how long a delivered, unacknowledged message waits before it is retried or claimed by another
	 * consumer (CHANNELS_REDIS_MIN_IDLE_MS).
	 */
	channelsRedisMinIdleMs: number;
}

/** The HTTP gateway. */
export interface GatewayEnv {
	port: number;
	/** Address the gateway listens on (HOST; default all interfaces). */
	host: string;
	/**
	 * Origins allowed to call the HTTP API and Socket.IO from a browser (CORS_ORIGINS, comma-separated, or *); null:
	 * same origin only.
	 */
	corsOrigins: string[] | null;
	/** Behind a reverse proxy: take the client address from X-Forwarded-For (TRUST_PROXY=1). */
	trustProxy: boolean;
	/**
	 * /metrics needs an admin token or METRICS_TOKEN: METRICS_AUTH=token, or unset and HOST not loopback;
	 * METRICS_AUTH=none opens it.
	 */
	metricsAuth: boolean;
	/** A static bearer token Prometheus may use for /metrics when METRICS_AUTH=1 (METRICS_TOKEN). */
	metricsToken: string | null;
}

/** Accounts, tokens and the device certificate authority (signing service and gateways). */
export interface AuthEnv {
	/**
	 * The Ed25519 token signing key as PKCS#8 PEM (JWT_PRIVATE_KEY; signing nodes only); null: DATA_DIR/jwt-keys.json.
	 */
	jwtPrivateKey: string | null;
	adminEmail: string | null;
	adminPassword: string | null;
	/** Lifetime of an access token in seconds (TOKEN_TTL_S). */
	tokenTtlSeconds: number;
	/** Login and register attempts per client address per minute at each gateway (AUTH_RATE_LIMIT). */
	authRateLimit: number;
	/** Failed logins per account (and per account and address) in 15 minutes before 429 (AUTH_MAX_FAILURES). */
	authMaxFailures: number;
	/** The device CA as PEM (FLEET_CA_CERT + FLEET_CA_KEY) instead of one generated in DATA_DIR/certs. */
	caCert: string | null;
	caKey: string | null;
}

/** The MQTT pipeline: ingest, decode, sink. */
export interface PipelineEnv {
	/** Embedded MQTT broker plain listener, loopback only (MQTT_PORT). */
	mqttPort: number;
	/**
	 * MQTT_PORT was set: a taken port then stops the node. Left at its default (1883, which a
	 * system Mosquitto often holds), a taken port only skips the plain listener, so that
	 * `npm start` still runs next to that broker (controllers use the mTLS listener).
	 */
	mqttPortExplicit: boolean;
	/** Embedded broker mTLS listener (MQTTS_PORT). */
	mqttsPort: number;
	/** Sink: readings per COPY (BATCH_SIZE). */
	batchSize: number;
	/** Sink: longest wait before a partial batch is written (FLUSH_INTERVAL_MS). */
	flushIntervalMs: number;
	/** Decode and sink warm up before `/ready` (PIPELINE_WARM_UP=0: ready sooner, slower first second). */
	pipelineWarmUp: boolean;
	/** TimescaleDB retention of decoded_data in days, 0 = keep forever (DATA_RETENTION_DAYS). */
	dataRetentionDays: number;
	/**
	 * Deprecated: pipeline stages this node runs when SERVICES selects `pipeline` (PIPELINE_STAGES); null: all three.
	 */
	pipelineStages: ("ingest" | "decode" | "sink")[] | null;
	/**
	 * MQTT client id of this ingest instance, stable across restarts (MQTT_CLIENT_ID); null:
	 * `<namespace>-ingest-<NODEID>` when NODEID is set, else one generated once and kept in DATA_DIR.
	 */
	mqttClientId: string | null;
	/** Largest MQTT packet accepted by the embedded broker and the ingest's client (MQTT_MAX_PACKET_BYTES). */
	mqttMaxPacketBytes: number;
	/**
	 * MQTT messages the ingest keeps while iot.raw does not take them (INGEST_MAX_BUFFERED); its
	 * MQTT 5 Receive Maximum is half of it (below 131,070), so one connection's unacknowledged messages fit.
	 */
	ingestMaxBuffered: number;
}

/** Devices: detection, profiles and the simulator. */
export interface DevicesEnv {
	/** Detector source auto|udevadm|sysfs|simulated (DETECTOR_SOURCE). */
	detectorSource: "auto" | "udevadm" | "sysfs" | "simulated";
	/** Root of the sysfs tree the sysfs source polls (SYSFS_ROOT; tests point it at a built tree). */
	sysfsRoot: string;
	/** Window in which duplicate/flapping hotplug events collapse (DETECTOR_DEBOUNCE_MS). */
	detectorDebounceMs: number;
	/**
	 * Linux serial links: ms a port may stay readable before it is read, so that lines arriving meanwhile come in one
	 * read (SERIAL_READ_COALESCE_MS; 0 reads at once). Bounds the latency it adds (services/processor/links/serial.ts).
	 */
	serialReadCoalesceMs: number;
	/** Device profiles directory (PROFILES_DIR; default profiles/ of the project). */
	profilesDir: string | null;
	/** Run the simulator's virtual devices and controllers (SIMULATE). */
	simulate: boolean;
	/** Simulator: milliseconds between two frames of one MQTT controller (SIM_CONTROLLER_INTERVAL_MS). */
	simControllerIntervalMs: number;
}

/** Monitoring: live push and offline detection. */
export interface MonitoringEnv {
	/** Live readings are sent to a Socket.IO room at most once per this many ms (LIVE_THROTTLE_MS). */
	liveThrottleMs: number;
	/** Seconds a device is expected to report within when it states nothing itself (OFFLINE_AFTER_S). */
	offlineAfterS: number;
}

/** Automation: rules, schedules, device commands and history. */
export interface AutomationEnv {
	/** Timer, schedule and outbox sweep period in ms (AUTOMATION_TICK_MS). */
	automationTickMs: number;
	/** Days runs and commands are kept (AUTOMATION_HISTORY_DAYS). */
	automationHistoryDays: number;
	/**
	 * A reading within this many ms after a command succeeded on its device counts as caused by it
	 * (AUTOMATION_LOOP_WINDOW_MS).
	 */
	automationLoopWindowMs: number;
	/** Longest chain of runs triggered by each other's commands before a run is suppressed (AUTOMATION_MAX_DEPTH). */
	automationMaxDepth: number;
	/**
	 * How long an instance holds a claimed timer or run before another instance may take it over (AUTOMATION_LEASE_MS).
	 */
	automationLeaseMs: number;
}

/** The builds area: every ASU_* variable. */
export interface BuildsEnv {
	/** Which ImageBuilder runs the jobs (ASU_BUILDER): null = none, builds answer 503. */
	builder: "podman" | "local" | "simulated" | null;
	/** Release-metadata mirror directory (ASU_UPSTREAM_DIR); the shipped fixture when simulated and nothing is set. */
	upstreamDir: string | null;
	/** Release-metadata server (ASU_UPSTREAM_URL), e.g. https://downloads.openwrt.org. */
	upstreamUrl: string | null;
	/** Queued jobs past which a new build answers 529 (ASU_MAX_QUEUE). */
	maxQueue: number;
	/** Jobs one builds-worker runs at a time (ASU_WORKER_CONCURRENCY). */
	workerConcurrency: number;
	/** uci-defaults scripts in requests allowed (ASU_ALLOW_DEFAULTS). */
	allowDefaults: boolean;
	/** Requests per minute per client address on the public ASU paths, 0 = off (ASU_RATE_LIMIT). */
	rateLimit: number;
	/** Where built images are kept and served from under /store/ (ASU_STORE_DIR); shared by API and workers. */
	storeDir: string;
	/** A build is killed after this many seconds (ASU_JOB_TIMEOUT_S; upstream 10 min). */
	jobTimeoutS: number;
	/**
	 * A worker that stops renewing its job lock for this long has its job retaken by another worker
	 * (ASU_WORKER_LOCK_MS).
	 */
	workerLockMs: number;
	/** Unpacked ImageBuilders for the local builder: <dir>/<version>/<target>-<subtarget>/ (ASU_LOCAL_IB_DIR). */
	localIbDir: string | null;
	/** Container image of the podman builder (ASU_PODMAN_IMAGE; upstream ghcr.io/openwrt/imagebuilder). */
	podmanImage: string;
	/**
	 * A podman service socket the worker drives (ASU_PODMAN_URL, e.g. unix:///run/podman/podman.sock); local podman
	 * when unset.
	 */
	podmanUrl: string | null;
	/** Podman network the build containers join, one that cannot reach Redis (ASU_PODMAN_NETWORK). */
	podmanNetwork: string;
	/** Repository URL prefixes a request may add (ASU_REPOSITORY_ALLOW_LIST, comma-separated). */
	repositoryAllowList: string[];
	/** Simulated builder: extra milliseconds `make image` takes (ASU_SIM_BUILD_MS), so queues can be watched. */
	simBuildMs: number;
	/** Simulated builder: size of each image file in KiB (ASU_SIM_IMAGE_KIB). */
	simImageKib: number;
}

/** Builds: the OpenWrt ASU-compatible build services (builds, builds-prepare, builds-worker), as one block. */
export interface BuildsAreaEnv {
	builds: BuildsEnv;
}

export type FleetEnv = NodeEnv &
	StorageEnv &
	GatewayEnv &
	AuthEnv &
	PipelineEnv &
	DevicesEnv &
	MonitoringEnv &
	AutomationEnv &
	BuildsAreaEnv;

type Env = Record<string, string | undefined>;

function trimmed(env: Env, name: string): string | null {
	const value = env[name];
	if (value == null) return null;
	const t = value.trim();
	return t === "" ? null : t;
}

/** Parses a URL and checks its scheme; the error names the variable and hides any password. */
export function parseUrlVar(env: Env, name: string, schemes: string[]): string | null {
	const raw = trimmed(env, name);
	if (raw == null) return null;
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		throw new ConfigError(
			name,
			`'${redact(raw)}' is not a URL (expected ${schemes.map(s => s + "//…").join(" or ")})`
		);
	}
	if (!schemes.includes(url.protocol)) {
		throw new ConfigError(name, `scheme '${url.protocol}' is not supported (expected ${schemes.join(" or ")})`);
	}
	if (!url.hostname && url.protocol !== "file:") {
		throw new ConfigError(name, `'${redact(raw)}' has no host`);
	}
	return raw;
}

export function parseIntVar(env: Env, name: string, fallback: number, min: number, max: number): number {
	const raw = trimmed(env, name);
	if (raw == null) return fallback;
	if (!/^\d+$/.test(raw)) throw new ConfigError(name, `'${raw}' is not a whole number`);
	const n = Number(raw);
	if (n < min || n > max) throw new ConfigError(name, `${n} is out of range ${min}..${max}`);
	return n;
}

export function parseBoolVar(env: Env, name: string, fallback: boolean): boolean {
	const raw = trimmed(env, name);
	if (raw == null) return fallback;
	if (/^(1|true|yes|on)$/i.test(raw)) return true;
	if (/^(0|false|no|off)$/i.test(raw)) return false;
	throw new ConfigError(name, `'${raw}' is not a boolean (use 1/0, true/false)`);
}

export function parseTransporter(env: Env): TransporterConfig {
	const raw = trimmed(env, "TRANSPORTER");
	if (raw == null) return { kind: "none" };
	if (raw.toUpperCase() === "TCP") return { kind: "TCP" };
	if (/^nats:\/\//i.test(raw)) {
		// A comma-separated list of NATS servers is allowed (cluster seeds).
		for (const part of raw.split(",")) {
			let url: URL;
			try {
				url = new URL(part.trim());
			} catch {
				throw new ConfigError(
					"TRANSPORTER",
					`'${redact(part)}' is not a valid NATS URL (expected nats://host:4222)`
				);
			}
			if (!url.hostname)
				throw new ConfigError("TRANSPORTER", `'${redact(part)}' has no host (expected nats://host:4222)`);
			if (url.port && !/^\d+$/.test(url.port))
				throw new ConfigError("TRANSPORTER", `'${url.port}' is not a port`);
		}
		return { kind: "NATS", url: raw };
	}
	throw new ConfigError(
		"TRANSPORTER",
		`'${redact(raw)}' is not supported: leave it empty (single node), set TCP (LAN, no broker) or nats://host:4222`
	);
}

const SERVICE_NAME = /^[a-z][a-z0-9-]*$/;

export function parseServices(env: Env): string[] | null {
	const raw = trimmed(env, "SERVICES");
	if (raw == null) return null;
	const names = raw
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
	for (const name of names) {
		// Globs and paths are accepted as moleculer-runner accepts them; plain names must look like names.
		if (!/[/*.]/.test(name) && !SERVICE_NAME.test(name.replace(/^!/, ""))) {
			throw new ConfigError("SERVICES", `'${name}' is not a service name`);
		}
	}
	return names;
}

/** Hides the password of a URL so it can be printed. */
export function redact(raw: string): string {
	return raw.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}

function parseDetectorSource(env: Env): FleetEnv["detectorSource"] {
	const raw = (trimmed(env, "DETECTOR_SOURCE") ?? "auto").toLowerCase();
	if (raw === "auto" || raw === "udevadm" || raw === "sysfs" || raw === "simulated") return raw;
	throw new ConfigError("DETECTOR_SOURCE", `'${raw}' is not one of auto, udevadm, sysfs, simulated`);
}

function parseBuilder(env: Env, simulate: boolean): BuildsEnv["builder"] {
	const raw = trimmed(env, "ASU_BUILDER")?.toLowerCase();
	if (raw == null) return simulate ? "simulated" : null;
	if (raw === "none") return null;
	if (raw === "podman" || raw === "local" || raw === "simulated") return raw;
	throw new ConfigError("ASU_BUILDER", `'${raw}' is not one of podman, local, simulated, none`);
}

export function parseBuildsEnv(env: Env, dataDir: string, simulate: boolean): BuildsEnv {
	const upstreamDir = trimmed(env, "ASU_UPSTREAM_DIR");
	return {
		builder: parseBuilder(env, simulate),
		upstreamDir: upstreamDir ? path.resolve(upstreamDir) : null,
		upstreamUrl: parseUrlVar(env, "ASU_UPSTREAM_URL", ["http:", "https:"])?.replace(/\/+$/, "") ?? null,
		maxQueue: parseIntVar(env, "ASU_MAX_QUEUE", 200, 0, 1_000_000),
		workerConcurrency: parseIntVar(env, "ASU_WORKER_CONCURRENCY", 1, 1, 256),
		allowDefaults: parseBoolVar(env, "ASU_ALLOW_DEFAULTS", false),
		rateLimit: parseIntVar(env, "ASU_RATE_LIMIT", 600, 0, 10_000_000),
		storeDir: path.resolve(trimmed(env, "ASU_STORE_DIR") ?? path.join(dataDir, "store")),
		jobTimeoutS: parseIntVar(env, "ASU_JOB_TIMEOUT_S", 600, 1, 86_400),
		workerLockMs: parseIntVar(env, "ASU_WORKER_LOCK_MS", 30_000, 500, 600_000),
		localIbDir: trimmed(env, "ASU_LOCAL_IB_DIR"),
		podmanImage: trimmed(env, "ASU_PODMAN_IMAGE") ?? "ghcr.io/openwrt/imagebuilder",
		podmanUrl: trimmed(env, "ASU_PODMAN_URL"),
		podmanNetwork: trimmed(env, "ASU_PODMAN_NETWORK") ?? "asu-build",
		repositoryAllowList:
			trimmed(env, "ASU_REPOSITORY_ALLOW_LIST")
				?.split(",")
				.map(s => s.trim())
				.filter(Boolean) ?? [],
		simBuildMs: parseIntVar(env, "ASU_SIM_BUILD_MS", 0, 0, 3_600_000),
		simImageKib: parseIntVar(env, "ASU_SIM_IMAGE_KIB", 64, 1, 65_536)
	};
}

function parsePipelineStages(env: Env): FleetEnv["pipelineStages"] {
	const raw = trimmed(env, "PIPELINE_STAGES");
	if (raw == null) return null;
	const stages = raw
		.split(",")
		.map(s => s.trim().toLowerCase())
		.filter(Boolean);
	for (const s of stages) {
		if (s !== "ingest" && s !== "decode" && s !== "sink")
			throw new ConfigError("PIPELINE_STAGES", `'${s}' is not one of ingest, decode, sink`);
	}
	return stages as FleetEnv["pipelineStages"];
}

/** One of a fixed list; `caseless` accepts any case and returns the listed spelling. */
function parseChoice<T extends string>(
	env: Env,
	name: string,
	choices: readonly T[],
	fallback: T,
	caseless: boolean
): T {
	const raw = trimmed(env, name);
	if (raw == null) return fallback;
	const found = choices.find(c => (caseless ? c.toLowerCase() === raw.toLowerCase() : c === raw));
	if (!found) throw new ConfigError(name, `'${raw}' is not one of ${choices.join(", ")}`);
	return found;
}

/** A host name or address to listen on (checked for shape here; that it resolves is checked at start). */
function parseHost(env: Env, name: string, fallback: string): string {
	const raw = trimmed(env, name);
	if (raw == null) return fallback;
	if (!/^[A-Za-z0-9._:-]+$/.test(raw) || raw.length > 253)
		throw new ConfigError(name, `'${raw}' is not a host name or IP address`);
	return raw;
}

function parseClientId(env: Env): string | null {
	const raw = trimmed(env, "MQTT_CLIENT_ID");
	if (raw != null) {
		if (!/^[A-Za-z0-9._-]{1,64}$/.test(raw))
			throw new ConfigError("MQTT_CLIENT_ID", `'${raw}' must be 1–64 letters, digits, '.', '_' or '-'`);
		return raw;
	}
	const node = trimmed(env, "NODEID");
	return node
		? `${trimmed(env, "NAMESPACE") ?? "fleetmesh"}-ingest-${node}`.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)
		: null;
}

/**
 * The default node id: the host name and a short hash of DATA_DIR. The same across restarts of
 * the same node (devices keep their node), different for two nodes with their own DATA_DIR on one host.
 */
export function defaultNodeID(env: Env): string {
	const dataDir = path.resolve(trimmed(env, "DATA_DIR") ?? "./data");
	return `${os.hostname()}-${crypto.createHash("sha256").update(dataDir).digest("hex").slice(0, 6)}`;
}

/** Loopback NATS hosts: a mesh on this machine only. */
function isLoopbackHost(host: string): boolean {
	const h = host.replace(/^\[|\]$/g, "").toLowerCase();
	return h === "localhost" || h === "::1" || /^127\./.test(h);
}

/**
 * A NATS mesh that other machines can reach must be authenticated: every node of the namespace
 * may call every action. A non-loopback NATS URL without user:password (or a token) in it is
 * refused unless MESH_INSECURE=1 says it is on purpose.
 */
export function checkMeshCredentials(t: TransporterConfig, insecure: boolean): void {
	if (t.kind !== "NATS" || insecure) return;
	for (const part of t.url.split(",")) {
		const url = new URL(part.trim());
		if (!isLoopbackHost(url.hostname) && !url.username) {
			throw new ConfigError(
				"TRANSPORTER",
				`${url.host} is not on this machine and the URL has no credentials: use ` +
					`nats://user:password@${url.host} (the shipped NATS configuration requires them), or set ` +
					`MESH_INSECURE=1 to run an open mesh on purpose`
			);
		}
	}
}

function readNodeEnv(env: Env, services: string[] | null): NodeEnv {
	const transporter = parseTransporter(env);
	const meshInsecure = parseBoolVar(env, "MESH_INSECURE", false);
	checkMeshCredentials(transporter, meshInsecure);
	return {
		services,
		nodeID: trimmed(env, "NODEID") ?? defaultNodeID(env),
		deviceNodeID: trimmed(env, "DEVICE_NODEID") ?? trimmed(env, "NODEID") ?? defaultNodeID(env),
		namespace: trimmed(env, "NAMESPACE") ?? "fleetmesh",
		transporter,
		meshInsecure,
		logLevel: parseChoice(env, "LOGLEVEL", LOG_LEVELS, "info", true),
		logFormat:
			trimmed(env, "LOG_FORMAT") == null
				? null
				: parseChoice(env, "LOG_FORMAT", ["json", "short"] as const, "json", true),
		requestTimeoutMs: parseIntVar(env, "REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
		bulkheadQueue: parseIntVar(env, "BULKHEAD_QUEUE", 2000, 1, 1_000_000),
		metrics: parseBoolVar(env, "METRICS", true),
		metricsPort: trimmed(env, "METRICS_PORT") == null ? null : parseIntVar(env, "METRICS_PORT", 0, 1, 65535),
		tracing:
			trimmed(env, "TRACING") == null ? null : parseChoice(env, "TRACING", TRACING_EXPORTERS, "Console", false),
		channelsReplicas: parseIntVar(env, "CHANNELS_REPLICAS", 1, 1, 5),
		serializer: parseSerializer(env),
		channelsAckWaitMs: parseIntVar(env, "CHANNELS_ACK_WAIT_MS", 30_000, 1000, 3_600_000)
	};
}

function readStorageEnv(env: Env): StorageEnv {
	return {
		databaseUrl: parseUrlVar(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
		redisUrl: parseUrlVar(env, "REDIS_URL", ["redis:", "rediss:"]),
		mqttUrl: parseUrlVar(env, "MQTT_URL", ["mqtt:", "mqtts:", "tcp:", "ssl:", "ws:", "wss:"]),
		mongoUrl: parseUrlVar(env, "MONGO_URL", ["mongodb:", "mongodb+srv:"]),
		dataDir: path.resolve(trimmed(env, "DATA_DIR") ?? "./data"),
		dbConnectTimeoutMs: parseIntVar(env, "DB_CONNECT_TIMEOUT_MS", 10_000, 0, 600_000),
		dbPoolMax: parseIntVar(env, "DB_POOL_MAX", 10, 1, 500),
		channelsRedisMinIdleMs: parseIntVar(env, "CHANNELS_REDIS_MIN_IDLE_MS", 10_000, 100, 86_400_000)
	};
}

/**
 * Whether /metrics needs a token: METRICS_AUTH=none (or 0) opens it, =token (or 1) always asks;
 * unset, it asks unless the gateway listens on loopback only.
 */
function metricsNeedToken(env: Env, host: string): boolean {
	const raw = trimmed(env, "METRICS_AUTH")?.toLowerCase();
	if (raw == null || raw === "auto") return !isLoopbackHost(host);
	if (/^(none|0|false|no|off)$/.test(raw)) return false;
	if (/^(token|1|true|yes|on)$/.test(raw)) return true;
	throw new ConfigError(
		"METRICS_AUTH",
		`'${raw}' is not one of token, none (unset: a token unless HOST is loopback)`
	);
}

function readGatewayEnv(env: Env): GatewayEnv {
	return {
		port: parseIntVar(env, "PORT", 3000, 0, 65535),
		host: parseHost(env, "HOST", "0.0.0.0"),
		corsOrigins:
			trimmed(env, "CORS_ORIGINS")
				?.split(",")
				.map(s => s.trim())
				.filter(Boolean) ?? null,
		trustProxy: parseBoolVar(env, "TRUST_PROXY", false),
		metricsAuth: metricsNeedToken(env, parseHost(env, "HOST", "0.0.0.0")),
		metricsToken: trimmed(env, "METRICS_TOKEN")
	};
}

function readAuthEnv(env: Env): AuthEnv {
	return {
		jwtPrivateKey: trimmed(env, "JWT_PRIVATE_KEY"),
		adminEmail: trimmed(env, "ADMIN_EMAIL"),
		adminPassword: trimmed(env, "ADMIN_PASSWORD"),
		tokenTtlSeconds: parseIntVar(env, "TOKEN_TTL_S", 3600, 60, 30 * 86_400),
		authRateLimit: parseIntVar(env, "AUTH_RATE_LIMIT", 20, 1, 1_000_000),
		authMaxFailures: parseIntVar(env, "AUTH_MAX_FAILURES", 5, 1, 1_000_000),
		caCert: trimmed(env, "FLEET_CA_CERT"),
		caKey: trimmed(env, "FLEET_CA_KEY")
	};
}

function readPipelineEnv(env: Env): PipelineEnv {
	return {
		mqttPort: parseIntVar(env, "MQTT_PORT", 1883, 0, 65535),
		mqttPortExplicit: trimmed(env, "MQTT_PORT") !== null,
		mqttsPort: parseIntVar(env, "MQTTS_PORT", 8883, 0, 65535),
		batchSize: parseIntVar(env, "BATCH_SIZE", 1000, 1, 100_000),
		flushIntervalMs: parseIntVar(env, "FLUSH_INTERVAL_MS", 100, 1, 60_000),
		pipelineWarmUp: parseBoolVar(env, "PIPELINE_WARM_UP", true),
		dataRetentionDays: parseIntVar(env, "DATA_RETENTION_DAYS", 365, 0, 36_500),
		pipelineStages: parsePipelineStages(env),
		mqttClientId: parseClientId(env),
		mqttMaxPacketBytes: parseIntVar(env, "MQTT_MAX_PACKET_BYTES", 262_144, 1024, 268_435_455),
		ingestMaxBuffered: parseIntVar(env, "INGEST_MAX_BUFFERED", 200_000, 10, 10_000_000)
	};
}

function readDevicesEnv(env: Env, services: string[] | null): DevicesEnv {
	return {
		detectorSource: parseDetectorSource(env),
		sysfsRoot: trimmed(env, "SYSFS_ROOT") ?? "/",
		detectorDebounceMs: parseIntVar(env, "DETECTOR_DEBOUNCE_MS", 150, 0, 10_000),
		serialReadCoalesceMs: parseIntVar(env, "SERIAL_READ_COALESCE_MS", 10, 0, 1000),
		profilesDir: trimmed(env, "PROFILES_DIR"),
		// The all-in-one `npm start` (no SERVICES) shows virtual devices; a node given a
		// service list is assumed to have real hardware unless told otherwise.
		simulate: parseBoolVar(env, "SIMULATE", services == null),
		simControllerIntervalMs: parseIntVar(env, "SIM_CONTROLLER_INTERVAL_MS", 1000, 1, 3_600_000)
	};
}

function readMonitoringEnv(env: Env): MonitoringEnv {
	return {
		liveThrottleMs: parseIntVar(env, "LIVE_THROTTLE_MS", 250, 10, 60_000),
		offlineAfterS: parseIntVar(env, "OFFLINE_AFTER_S", 60, 1, 86_400)
	};
}

/** Reads and checks every variable; the first bad one throws a ConfigError naming it. */
function readAutomationEnv(env: Env): AutomationEnv {
	return {
		automationTickMs: parseIntVar(env, "AUTOMATION_TICK_MS", 1000, 10, 60_000),
		automationHistoryDays: parseIntVar(env, "AUTOMATION_HISTORY_DAYS", 30, 1, 36_500),
		automationLoopWindowMs: parseIntVar(env, "AUTOMATION_LOOP_WINDOW_MS", 10_000, 0, 3_600_000),
		automationMaxDepth: parseIntVar(env, "AUTOMATION_MAX_DEPTH", 3, 1, 100),
		automationLeaseMs: parseIntVar(env, "AUTOMATION_LEASE_MS", 30_000, 1000, 3_600_000)
	};
}

export function readEnv(env: Env = process.env): FleetEnv {
	const services = parseServices(env);
	const storage = readStorageEnv(env);
	const devices = readDevicesEnv(env, services);
	return {
		...readNodeEnv(env, services),
		...storage,
		...readGatewayEnv(env),
		...readAuthEnv(env),
		...readPipelineEnv(env),
		...devices,
		...readMonitoringEnv(env),
		...readAutomationEnv(env),
		builds: parseBuildsEnv(env, storage.dataDir, devices.simulate)
	};
}

/** One line for a human: what is wrong and which variable to change. */
export function describeStartupError(err: unknown): string {
	if (err instanceof ConfigError) return `fleetmesh: cannot start: ${err.message}`;
	const e = err as { message?: string; code?: string } | undefined;
	return `fleetmesh: cannot start: ${e?.message ?? String(err)}`;
}
