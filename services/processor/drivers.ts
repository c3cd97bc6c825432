/**
 * Device drivers: a link (serial port, I2C bus) and a protocol put together behind one
 * interface, as EdgeX's ProtocolDriver. A driver opens the device, hands what it reads to its
 * hooks as labelled values, writes commands, and reports a lost link; the session
 * (session.ts) decides what to do about it (reconnect, status, watchdog) and maps labels to
 * datapoints. To add a protocol: a parser in protocols/, a driver here, a case in createDriver.
 */
import type { ServiceBroker } from "moleculer";
import type { DeviceOpenRequest } from "../shared/contracts";
import { fleetEnv } from "../shared/broker-env";
import { errorMessage } from "../shared/error-message";
import { openI2cBus } from "./links/i2c";
import { openSerial, resolvePath, type SerialLink } from "./links/serial";
import { Bme280Device, type I2cBusLike } from "./protocols/bme280";
import { LineSplitter, parseLine, type LineState } from "./protocols/line";
import { decodeRegister, registerWidth } from "./protocols/modbus";
import { parseNmea } from "./protocols/nmea";

/** A command for the device: a line of text (serial), or a register and a value (Modbus, I2C). */
export interface DeviceCommand {
	line?: string;
	register?: number;
	value?: number;
}

/** Counters a driver keeps in the session's statistics. */
export interface DriverStats {
	lines: number;
	badLines: number;
	ignoredLines: number;
	droppedBytes: number;
	overlongLines: number;
	lastBadLine: string | null;
}

export interface DriverHooks {
	broker: ServiceBroker;
	stats: DriverStats;
	log: { info(m: string): void; warn(m: string): void; debug(m: string): void };
	/** Labelled values read from the device (label or the device's own key → value). */
	onValues(values: Record<string, number>): void;
	/** A failure that leaves the link up (a port error, one failed poll). */
	onError(message: string): void;
	/** The link is gone; the session reconnects or gives up. */
	onLinkLost(reason: string): void;
	/** True once the session is stopping: nothing new may be opened or scheduled. */
	isStopped(): boolean;
}

export interface DeviceDriver {
	/** What was opened (the device path or bus), once `open` ran. */
	readonly openedPath: string | null;
	/** Opens the link and starts reading; throws when the device cannot be opened. */
	open(): Promise<void>;
	/** Closes the link; reading stops. Safe to call when nothing is open. */
	close(): Promise<void>;
	write(cmd: DeviceCommand): Promise<void>;
}

export function createDriver(req: DeviceOpenRequest, hooks: DriverHooks): DeviceDriver {
	if (req.profile.interface === "i2c") return new Bme280Driver(req, hooks);
	if (req.profile.protocol === "modbus") return new ModbusDriver(req, hooks);
	return new SerialLineDriver(req, hooks);
}

/** Polls on a timer while `isOpen()`; three failures in a row count as a lost link. */
class Poller {
	private timer: NodeJS.Timeout | null = null;

	constructor(private readonly hooks: DriverHooks) {}

	start(fn: () => Promise<void>, everyMs: number, isOpen: () => boolean): void {
		let failures = 0;
		const tick = async () => {
			if (this.hooks.isStopped()) return;
			try {
				await fn();
				failures = 0;
			} catch (err) {
				this.hooks.onError(errorMessage(err));
				if (++failures >= 3) {
					this.hooks.onLinkLost(`3 reads failed: ${errorMessage(err)}`);
					return;
				}
			}
			if (!this.hooks.isStopped() && isOpen()) this.timer = setTimeout(() => void tick(), everyMs);
		};
		this.timer = setTimeout(() => void tick(), 0);
	}

	stop(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
	}
}

// ---- serial, line based (line, nmea) -------------------------------------------------------

class SerialLineDriver implements DeviceDriver {
	openedPath: string | null = null;
	private port: SerialLink | null = null;
	private readonly splitter: LineSplitter;
	/** Kept across reconnects: a CSV header read once still names the columns. */
	private readonly lineState: LineState = { csvHeader: null };

	constructor(
		private readonly req: DeviceOpenRequest,
		private readonly hooks: DriverHooks
	) {
		// buffer_size bounds what one unterminated line may hold.
		this.splitter = new LineSplitter(Math.max(64, req.config.buffer_size));
	}

	async open(): Promise<void> {
		this.splitter.reset();
		const path = resolvePath(this.req.device, this.req.fallbackDevice);
		this.openedPath = path;
		const port = await openSerial(path, {
			baudRate: this.req.profile.baudrate ?? 9600,
			coalesceMs: fleetEnv(this.hooks.broker).serialReadCoalesceMs
		});
		if (this.hooks.isStopped()) {
			port.close();
			return;
		}
		this.port = port;
		port.on("data", (chunk: Buffer) => this.onData(chunk));
		port.on("error", err => this.hooks.onError(err.message));
		port.on("close", (err: Error | null) => {
			if (this.port === port) this.port = null;
			if (!this.hooks.isStopped()) this.hooks.onLinkLost(err ? `port closed: ${err.message}` : "port closed");
		});
	}

	async close(): Promise<void> {
		const port = this.port;
		this.port = null;
		if (port?.isOpen) await new Promise<void>(r => port.close(() => r()));
	}

	async write(cmd: DeviceCommand): Promise<void> {
		const port = this.port;
		if (cmd.line == null) {
			if (cmd.register == null || cmd.value == null) throw new Error("give either line, or register and value");
			throw new Error("device link is not open");
		}
		if (!port?.isOpen) throw new Error("device link is not open");
		const line = cmd.line.endsWith("\n") ? cmd.line : cmd.line + "\n";
		await new Promise<void>((resolve, reject) =>
			port.write(line, err => (err ? reject(err) : port.drain(e => (e ? reject(e) : resolve()))))
		);
	}

	private onData(chunk: Buffer): void {
		const { stats } = this.hooks;
		const before = this.splitter.droppedBytes;
		const overlong = this.splitter.overlongLines;
		const lines = this.splitter.push(chunk);
		stats.droppedBytes += this.splitter.droppedBytes - before;
		if (this.splitter.overlongLines > overlong) {
			const first = stats.overlongLines === 0;
			stats.overlongLines += this.splitter.overlongLines - overlong;
			// Dropped data is reported, never silent: the first time, then every 100 lines.
			if (first || Math.floor(stats.overlongLines / 100) > Math.floor((stats.overlongLines - 1) / 100)) {
				this.hooks.log.warn(
					`processor: device ${this.req.deviceId}: ${stats.overlongLines} line(s) longer than ` +
						`buffer_size ${this.req.config.buffer_size} dropped (${stats.droppedBytes} bytes so ` +
						`far)`
				);
			}
		}
		for (const line of lines) this.onLine(line);
	}

	private onLine(line: string): void {
		this.hooks.stats.lines++;
		if (this.req.profile.protocol === "nmea") {
			const r = parseNmea(line);
			if (r.ok === true) this.hooks.onValues(r.values);
			else if (r.ok === "ignored") this.hooks.stats.ignoredLines++;
			else this.badLine(line, r.reason);
			return;
		}
		const r = parseLine(line, this.req.profile.format ?? "auto", this.lineState);
		if (r.ok === true) this.hooks.onValues(r.values);
		else if (r.ok === "header") this.hooks.stats.ignoredLines++;
		else this.badLine(line, r.reason);
	}

	private badLine(line: string, reason: string): void {
		const { stats } = this.hooks;
		stats.badLines++;
		stats.lastBadLine = `${reason}: ${JSON.stringify(line.slice(0, 80))}`;
		if (stats.badLines === 1 || stats.badLines % 1000 === 0)
			this.hooks.log.debug(
				`processor: device ${this.req.deviceId}: bad line (${stats.badLines} so far): ${stats.lastBadLine}`
			);
	}
}

// ---- Modbus RTU over serial ---------------------------------------------------------------

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

class ModbusDriver implements DeviceDriver {
	openedPath: string | null = null;
	private client: ModbusClient | null = null;
	/** Modbus RTU is half-duplex: one request on the wire at a time (a write between two poll reads garbles both). */
	private turn: Promise<unknown> = Promise.resolve();
	private readonly poller: Poller;

	constructor(
		private readonly req: DeviceOpenRequest,
		private readonly hooks: DriverHooks
	) {
		this.poller = new Poller(hooks);
	}

	async open(): Promise<void> {
		const path = resolvePath(this.req.device, this.req.fallbackDevice);
		this.openedPath = path;
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a Modbus device is opened
		const ModbusRTU = require("modbus-serial");
		const client = new ModbusRTU() as ModbusClient;
		// The client re-emits port errors: unhandled, an 'error' event would take the whole node down.
		client.on("error", err => this.hooks.onError(err?.message ?? "Modbus port error"));
		client.on("close", () => {
			if (this.client === client && !this.hooks.isStopped()) this.hooks.onLinkLost("Modbus port closed");
		});
		await client.connectRTUBuffered(path, { baudRate: this.req.profile.baudrate ?? 9600 });
		const mb = this.req.profile.modbus!;
		client.setID(mb.unit_id);
		client.setTimeout(Math.min(5000, this.req.config.timeout * 1000));
		this.client = client;
		this.poller.start(
			() => this.poll(),
			mb.poll_ms,
			() => this.client !== null
		);
	}

	async close(): Promise<void> {
		this.poller.stop();
		const client = this.client;
		this.client = null;
		if (client) await new Promise<void>(r => client.close(() => r()));
	}

	async write(cmd: DeviceCommand): Promise<void> {
		if (cmd.line != null) throw new Error("a Modbus device takes register writes, not lines");
		if (cmd.register == null || cmd.value == null) throw new Error("give either line, or register and value");
		const client = this.client;
		if (!client?.isOpen) throw new Error("device link is not open");
		await this.onTurn(() => client.writeRegister(cmd.register!, cmd.value!));
	}

	private onTurn<T>(fn: () => Promise<T>): Promise<T> {
		const run = this.turn.then(fn, fn);
		this.turn = run.catch(() => undefined);
		return run;
	}

	private async poll(): Promise<void> {
		const client = this.client;
		if (!client) return;
		const values: Record<string, number> = {};
		for (const r of this.req.profile.modbus!.registers) {
			const n = registerWidth(r.format);
			const res = await this.onTurn(() =>
				r.type === "input" ? client.readInputRegisters(r.address, n) : client.readHoldingRegisters(r.address, n)
			);
			values[r.label] = decodeRegister(res.data, r.format, r.scale ?? 1);
		}
		this.hooks.onValues(values);
	}
}

// ---- BME280 on an I2C bus -------------------------------------------------------------------

class Bme280Driver implements DeviceDriver {
	openedPath: string | null = null;
	private bus: I2cBusLike | null = null;
	private readonly poller: Poller;

	constructor(
		private readonly req: DeviceOpenRequest,
		private readonly hooks: DriverHooks
	) {
		this.poller = new Poller(hooks);
	}

	async open(): Promise<void> {
		const i2c = this.req.profile.i2c;
		if (!i2c) throw new Error("an I2C device needs an address");
		this.openedPath = this.req.device;
		const bus = await openI2cBus(this.hooks.broker, this.req.device);
		const dev = new Bme280Device(bus, i2c.address);
		await dev.init();
		this.bus = bus;
		this.poller.start(
			async () => {
				const r = await dev.read();
				this.hooks.onValues({ temperature: r.temperature, pressure: r.pressure, humidity: r.humidity });
			},
			i2c.poll_ms ?? 1000,
			() => this.bus !== null
		);
	}

	async close(): Promise<void> {
		this.poller.stop();
		const bus = this.bus;
		this.bus = null;
		await bus?.close?.().catch(() => undefined);
	}

	async write(cmd: DeviceCommand): Promise<void> {
		if (cmd.line != null) throw new Error("device link is not open");
		if (cmd.register == null || cmd.value == null) throw new Error("give either line, or register and value");
		const i2c = this.req.profile.i2c;
		if (!this.bus || !i2c) throw new Error("device link is not open");
		await this.bus.writeByte(i2c.address, cmd.register, cmd.value & 0xff);
	}
}
