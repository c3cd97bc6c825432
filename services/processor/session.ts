/**
 * One open device: its link (serial or I2C), its protocol, reconnects, the read watchdog, and
 * counters for everything that was skipped or dropped. A session's failures stay inside it:
 * the processor runs many, and one bad device never disturbs another.
 */
import type { ServiceBroker } from "moleculer";
import type { SerialPort } from "serialport";
import type { DeviceOpenRequest, DeviceStatus, Reading } from "../shared/contracts";
import { openI2cBus } from "./links/i2c";
import { openSerial, resolvePath } from "./links/serial";
import { Bme280Device, type I2cBusLike } from "./protocols/bme280";
import { LineSplitter, parseLine, type LineState } from "./protocols/line";
import { decodeRegister, registerWidth } from "./protocols/modbus";
import { parseNmea } from "./protocols/nmea";
import { errorMessage } from "../shared/error-message";
import { Backoff } from "../shared/retry";

// modbus-serial ships its own types but loads serialport itself; required lazily.
type ModbusClient = {
	connectRTUBuffered(path: string, opts: Record<string, unknown>): Promise<void>;
	setID(id: number): void;
	setTimeout(ms: number): void;
	readHoldingRegisters(addr: number, len: number): Promise<{ data: number[] }>;
	readInputRegisters(addr: number, len: number): Promise<{ data: number[] }>;
	writeRegister(addr: number, value: number): Promise<unknown>;
	close(cb?: () => void): void;
	on(event: "error" | "close", fn: (err?: Error) => void): void;
	isOpen: boolean;
};

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
	readonly stats: SessionStats = { lines: 0, readings: 0, badLines: 0, ignoredLines: 0, droppedBytes: 0, overlongLines: 0, unmappedValues: 0, reconnects: 0, errors: 0, lastError: null, lastBadLine: null, lastDataAt: null };
	status: DeviceStatus = "configured";
	/** When this session was created (a reopen makes a new one). */
	readonly openedAt = new Date().toISOString();
	openedPath: string | null = null;
	private stopped = false;
	private port: SerialPort | null = null;
	private modbus: ModbusClient | null = null;
	/** Modbus RTU is half-duplex: one request on the wire at a time (a write between two poll reads garbles both). */
	private modbusTurn: Promise<unknown> = Promise.resolve();
	private bus: I2cBusLike | null = null;
	private pollTimer: NodeJS.Timeout | null = null;
	private retryTimer: NodeJS.Timeout | null = null;
	private watchdog: NodeJS.Timeout | null = null;
	/** Waits between reconnects: 250 ms doubling to 10 s, back to the start once the link is up. */
	private readonly reconnectBackoff = new Backoff(250, 10_000);
	private lastTs = 0;
	private readonly splitter: LineSplitter;
	private readonly lineState: LineState = { csvHeader: null };
	private readonly byKey = new Map<string, number>();

	constructor(
		readonly req: DeviceOpenRequest,
		private readonly hooks: SessionHooks
	) {
		// buffer_size bounds what one unterminated line may hold.
		this.splitter = new LineSplitter(Math.max(64, req.config.buffer_size));
		for (const dp of req.datapoints) this.byKey.set(dp.key ?? dp.label, dp.id);
	}

	get deviceId(): number {
		return this.req.deviceId;
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
		for (const t of [this.pollTimer, this.retryTimer, this.watchdog]) if (t) clearTimeout(t);
		this.pollTimer = this.retryTimer = this.watchdog = null;
		await this.closeLink();
	}

	/** Sends a line (serial) or a register write (Modbus, I2C) to the device. */
	async write(cmd: { line?: string; register?: number; value?: number }): Promise<void> {
		const { protocol } = this.req.profile;
		if (cmd.line != null) {
			if (!this.port?.isOpen) throw new Error("device link is not open");
			if (protocol === "modbus") throw new Error("a Modbus device takes register writes, not lines");
			const port = this.port;
			await new Promise<void>((resolve, reject) => port.write(cmd.line!.endsWith("\n") ? cmd.line! : cmd.line + "\n", err => (err ? reject(err) : port.drain(e => (e ? reject(e) : resolve())))));
			return;
		}
		if (cmd.register == null || cmd.value == null) throw new Error("give either line, or register and value");
		if (protocol === "modbus" && this.modbus?.isOpen) {
			const client = this.modbus;
			await this.onModbus(() => client.writeRegister(cmd.register!, cmd.value!));
			return;
		}
		if (this.bus && this.req.profile.i2c) {
			await this.bus.writeByte(this.req.profile.i2c.address, cmd.register, cmd.value & 0xff);
			return;
		}
		throw new Error("device link is not open");
	}

	// ---- link handling ---------------------------------------------------------------------

	private async connect(): Promise<void> {
		const { profile } = this.req;
		this.splitter.reset();
		if (profile.interface === "i2c") return this.connectI2c();
		const path = resolvePath(this.req.device, this.req.fallbackDevice);
		this.openedPath = path;
		if (profile.protocol === "modbus") return this.connectModbus(path);
		const port = await openSerial(path, { baudRate: profile.baudrate ?? 9600 });
		if (this.stopped) {
			port.close();
			return;
		}
		this.port = port;
		port.on("data", (chunk: Buffer) => this.onData(chunk));
		port.on("error", err => this.noteError(err.message));
		port.on("close", (err: Error | null) => {
			if (this.port === port) this.port = null;
			if (!this.stopped) this.linkLost(err ? `port closed: ${err.message}` : "port closed");
		});
		this.connected();
	}

	private async connectModbus(path: string): Promise<void> {
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a Modbus device is opened
		const ModbusRTU = require("modbus-serial");
		const client = new ModbusRTU() as ModbusClient;
		// The client re-emits port errors: unhandled, an 'error' event would take the whole node down.
		client.on("error", err => this.noteError(err?.message ?? "Modbus port error"));
		client.on("close", () => {
			if (this.modbus === client && !this.stopped) this.linkLost("Modbus port closed");
		});
		await client.connectRTUBuffered(path, { baudRate: this.req.profile.baudrate ?? 9600 });
		const mb = this.req.profile.modbus!;
		client.setID(mb.unit_id);
		client.setTimeout(Math.min(5000, this.req.config.timeout * 1000));
		this.modbus = client;
		this.connected();
		this.schedulePoll(() => this.pollModbus(), mb.poll_ms);
	}

	private async connectI2c(): Promise<void> {
		const i2c = this.req.profile.i2c;
		if (!i2c) throw new Error("an I2C device needs an address");
		this.openedPath = this.req.device;
		const bus = await openI2cBus(this.hooks.broker, this.req.device);
		const dev = new Bme280Device(bus, i2c.address);
		await dev.init();
		this.bus = bus;
		this.connected();
		this.schedulePoll(async () => {
			const r = await dev.read();
			this.emitValues({ temperature: r.temperature, pressure: r.pressure, humidity: r.humidity });
		}, i2c.poll_ms ?? 1000);
	}

	private connected(): void {
		this.reconnectBackoff.reset();
		this.hooks.log.info(`processor: device ${this.deviceId} open on ${this.openedPath} (${this.req.profile.protocol})`);
	}

	/** Polls on a timer; three failures in a row count as a lost link. */
	private schedulePoll(fn: () => Promise<void>, everyMs: number): void {
		let failures = 0;
		const tick = async () => {
			if (this.stopped) return;
			try {
				await fn();
				failures = 0;
			} catch (err) {
				this.noteError(errorMessage(err));
				if (++failures >= 3) {
					this.linkLost(`3 reads failed: ${errorMessage(err)}`);
					return;
				}
			}
			if (!this.stopped && (this.modbus || this.bus)) this.pollTimer = setTimeout(() => void tick(), everyMs);
		};
		this.pollTimer = setTimeout(() => void tick(), 0);
	}

	private onModbus<T>(fn: () => Promise<T>): Promise<T> {
		const run = this.modbusTurn.then(fn, fn);
		this.modbusTurn = run.catch(() => undefined);
		return run;
	}

	private async pollModbus(): Promise<void> {
		const client = this.modbus;
		if (!client) return;
		const values: Record<string, number> = {};
		for (const r of this.req.profile.modbus!.registers) {
			const n = registerWidth(r.format);
			const res = await this.onModbus(() => (r.type === "input" ? client.readInputRegisters(r.address, n) : client.readHoldingRegisters(r.address, n)));
			values[r.label] = decodeRegister(res.data, r.format, r.scale ?? 1);
		}
		this.emitValues(values);
	}

	private linkLost(reason: string): void {
		if (this.stopped) return;
		void this.closeLink();
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

	private async closeLink(): Promise<void> {
		if (this.pollTimer) clearTimeout(this.pollTimer);
		this.pollTimer = null;
		const port = this.port;
		this.port = null;
		if (port?.isOpen) await new Promise<void>(r => port.close(() => r()));
		const mb = this.modbus;
		this.modbus = null;
		if (mb) await new Promise<void>(r => mb.close(() => r()));
		const bus = this.bus;
		this.bus = null;
		await bus?.close?.().catch(() => undefined);
	}

	// ---- data ------------------------------------------------------------------------------

	private onData(chunk: Buffer): void {
		const before = this.splitter.droppedBytes;
		const overlong = this.splitter.overlongLines;
		const lines = this.splitter.push(chunk);
		this.stats.droppedBytes += this.splitter.droppedBytes - before;
		if (this.splitter.overlongLines > overlong) {
			const first = this.stats.overlongLines === 0;
			this.stats.overlongLines += this.splitter.overlongLines - overlong;
			// Dropped data is reported, never silent: the first time, then every 100 lines.
			if (first || Math.floor(this.stats.overlongLines / 100) > Math.floor((this.stats.overlongLines - 1) / 100)) {
				this.hooks.log.warn(`processor: device ${this.deviceId}: ${this.stats.overlongLines} line(s) longer than buffer_size ${this.req.config.buffer_size} dropped (${this.stats.droppedBytes} bytes so far)`);
			}
		}
		for (const line of lines) this.onLine(line);
	}

	private onLine(line: string): void {
		this.stats.lines++;
		if (this.req.profile.protocol === "nmea") {
			const r = parseNmea(line);
			if (r.ok === true) this.emitValues(r.values);
			else if (r.ok === "ignored") this.stats.ignoredLines++;
			else this.badLine(line, r.reason);
			return;
		}
		const r = parseLine(line, this.req.profile.format ?? "auto", this.lineState);
		if (r.ok === true) this.emitValues(r.values);
		else if (r.ok === "header") this.stats.ignoredLines++;
		else this.badLine(line, r.reason);
	}

	private badLine(line: string, reason: string): void {
		this.stats.badLines++;
		this.stats.lastBadLine = `${reason}: ${JSON.stringify(line.slice(0, 80))}`;
		if (this.stats.badLines === 1 || this.stats.badLines % 1000 === 0) this.hooks.log.debug(`processor: device ${this.deviceId}: bad line (${this.stats.badLines} so far): ${this.stats.lastBadLine}`);
	}

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
