/**
 * One open device: its driver (link and protocol, drivers.ts), reconnects, the read watchdog,
 * the mapping of values to datapoints, and counters for everything that was skipped or dropped. A session's failures
 * stay inside it:
 * the processor runs many, and one bad device never disturbs another.
 */
import type { ServiceBroker } from "moleculer";
import type { DeviceOpenRequest, DeviceStatus, Reading } from "../shared/contracts";
import { errorMessage } from "../shared/error-message";
import { Backoff } from "../shared/retry";
import { createDriver, type DeviceCommand, type DeviceDriver } from "./drivers";

export interface SessionHooks {
	broker: ServiceBroker;
	onReadings(readings: Reading[]): void;
	onStatus(status: DeviceStatus, reason?: string): void;
	log: { info(m: string): void; warn(m: string): void; debug(m: string): void };
}

export interface SessionStats {
	lines: number;
	readings: number;
	badLines: number;
	ignoredLines: number;
	droppedBytes: number;
	overlongLines: number;
	unmappedValues: number;
	reconnects: number;
	errors: number;
	lastError: string | null;
	lastBadLine: string | null;
	lastDataAt: number | null;
}

export class DeviceSession {
	readonly stats: SessionStats = {
		lines: 0,
		readings: 0,
		badLines: 0,
		ignoredLines: 0,
		droppedBytes: 0,
		overlongLines: 0,
		unmappedValues: 0,
		reconnects: 0,
		errors: 0,
		lastError: null,
		lastBadLine: null,
		lastDataAt: null
	};
	status: DeviceStatus = "configured";
	/** When this session was created (a reopen makes a new one). */
	readonly openedAt = new Date().toISOString();
	private stopped = false;
	private readonly driver: DeviceDriver;
	private retryTimer: NodeJS.Timeout | null = null;
	private watchdog: NodeJS.Timeout | null = null;
	/** Waits between reconnects: 250 ms doubling to 10 s, back to the start once the link is up. */
	private readonly reconnectBackoff = new Backoff(250, 10_000);
	private lastTs = 0;
	private readonly byKey = new Map<string, number>();

	constructor(
		readonly req: DeviceOpenRequest,
		private readonly hooks: SessionHooks
	) {
		for (const dp of req.datapoints) this.byKey.set(dp.key ?? dp.label, dp.id);
		this.driver = createDriver(req, {
			broker: hooks.broker,
			stats: this.stats,
			log: hooks.log,
			onValues: values => this.emitValues(values),
			onError: message => this.noteError(message),
			onLinkLost: reason => this.linkLost(reason),
			isStopped: () => this.stopped
		});
	}

	get deviceId(): number {
		return this.req.deviceId;
	}

	/** What the driver opened (the stable path, its fallback, or the I2C bus). */
	get openedPath(): string | null {
		return this.driver.openedPath;
	}

	/** Opens the link; with auto_reconnect a failed first open keeps retrying in the background. */
	async start(): Promise<void> {
		this.armWatchdog();
		try {
			await this.connect();
		} catch (err) {
			if (!this.req.config.auto_reconnect) {
				this.setStatus("error", `open failed: ${errorMessage(err)}`);
				await this.stop();
				throw err;
			}
			this.linkLost(`open failed: ${errorMessage(err)}`);
		}
	}

	async stop(): Promise<void> {
		this.stopped = true;
		for (const t of [this.retryTimer, this.watchdog]) if (t) clearTimeout(t);
		this.retryTimer = this.watchdog = null;
		await this.driver.close();
	}

	/** Sends a line (serial) or a register write (Modbus, I2C) to the device. */
	write(cmd: DeviceCommand): Promise<void> {
		return this.driver.write(cmd);
	}

	// ---- link handling ---------------------------------------------------------------------

	private async connect(): Promise<void> {
		await this.driver.open();
		if (this.stopped) return;
		this.reconnectBackoff.reset();
		this.hooks.log.info(
			`processor: device ${this.deviceId} open on ${this.openedPath} (${this.req.profile.protocol})`
		);
	}

	private linkLost(reason: string): void {
		if (this.stopped) return;
		void this.driver.close();
		if (!this.req.config.auto_reconnect) {
			this.setStatus("error", reason);
			return;
		}
		this.setStatus("disconnected", reason);
		const delay = this.reconnectBackoff.next();
		if (this.retryTimer) clearTimeout(this.retryTimer);
		this.retryTimer = setTimeout(() => {
			this.retryTimer = null;
			if (this.stopped) return;
			this.stats.reconnects++;
			this.connect().catch(err => this.linkLost(`reconnect failed: ${errorMessage(err)}`));
		}, delay);
	}

	// ---- data ------------------------------------------------------------------------------

	private emitValues(values: Record<string, number>): void {
		const now = Date.now();
		// Strictly increasing per device: two lines in one chunk must not share a timestamp
		// (decoded_data's key is (timestamp, device, datapoint)).
		const ts = (this.lastTs = Math.max(now, this.lastTs + 1));
		const readings: Reading[] = [];
		for (const [key, value] of Object.entries(values)) {
			const id = this.byKey.get(key);
			if (id == null) {
				this.stats.unmappedValues++;
				continue;
			}
			readings.push({ deviceId: this.deviceId, datapointId: id, value, ts });
		}
		this.stats.lastDataAt = now;
		if (this.status !== "streaming") this.setStatus("streaming");
		if (readings.length === 0) return;
		this.stats.readings += readings.length;
		this.hooks.onReadings(readings);
	}

	private noteError(message: string): void {
		this.stats.errors++;
		this.stats.lastError = message;
	}

	private setStatus(status: DeviceStatus, reason?: string): void {
		if (this.status === status && status === "streaming") return;
		this.status = status;
		this.hooks.onStatus(status, reason);
	}

	/** Read timeout: a device silent for `timeout` seconds is reported, and again when it speaks. */
	private armWatchdog(): void {
		const timeoutMs = this.req.config.timeout * 1000;
		const every = Math.max(100, Math.min(1000, timeoutMs / 4));
		const check = () => {
			if (this.stopped) return;
			const last = this.stats.lastDataAt;
			if (this.status === "streaming" && last != null && Date.now() - last > timeoutMs) {
				this.setStatus("error", `no data for ${this.req.config.timeout} s (read timeout)`);
			}
			this.watchdog = setTimeout(check, every);
		};
		this.watchdog = setTimeout(check, every);
	}
}
