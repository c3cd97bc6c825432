/**
 * Simulated devices: boards on real PTYs (socat pairs) and a BME280 on a simulated I2C bus,
 * plugged and unplugged through the detector's simulated source on this node.
 *
 *   simulator.plug   { kind, id?, serial?, rateHz?, lines? }  → the device appears and streams
 *   simulator.unplug { id }                                  → it goes away
 *   simulator.devices                                        → what is plugged here
 *   simulator.i2c    { bus, op, address, command, … }        → the simulated I2C bus (processor's link)
 *
 * With SIMULATE=1 an Arduino Uno, a GPS, a Modbus sensor and a BME280 are plugged at start.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Context, Service } from "moleculer";
import { Errors } from "moleculer";
import { SerialPort } from "serialport";
import { fleetEnv } from "../shared/broker-env";
import { writePrivateFile } from "../shared/files";
import { SimulatedBme280, SimulatedI2cBus } from "./bme280-chip";
import { createPtyPair, type PtyPair } from "./pty";
import {
	arduinoLine,
	byIdName,
	esp32Line,
	gpsSentences,
	udevPropertiesFor,
	VIRTUAL_KINDS,
	type VirtualKind
} from "./virtual-devices";
import { errorMessage } from "../shared/error-message";
import { defineMixin } from "../shared/define-service";

interface Plugged {
	id: string;
	kind: VirtualKind;
	path: string;
	subsystem: string;
	properties: Record<string, string | undefined>;
	linesWritten: number;
	linesSkipped: number;
	/** Holding registers of a simulated Modbus slave. */
	registers?: Map<number, number>;
	stop(): Promise<void>;
}

type DevicesThis = Service & {
	plugged: Map<string, Plugged>;
	i2cBuses: Map<string, SimulatedI2cBus>;
	portSeq: number;
	simDir: string;
	plugDevice(p: PlugParams): Promise<Plugged>;
	unplugDevice(id: string): Promise<boolean>;
};

interface PlugParams {
	kind: VirtualKind;
	id?: string;
	serial?: string;
	rateHz?: number;
	lines?: string[];
	bus?: number;
	address?: number;
}

/** A BME280 on the simulated I2C bus `sim-i2c-<bus>` (the bus is made on first use). */
function plugI2cChip(buses: Map<string, SimulatedI2cBus>, id: string, p: PlugParams): Plugged {
	const busName = `sim-i2c-${p.bus ?? 1}`;
	let bus = buses.get(busName);
	if (!bus) buses.set(busName, (bus = new SimulatedI2cBus()));
	const address = p.address ?? 0x76;
	const chip = new SimulatedBme280();
	bus.chips.set(address, chip);
	// The raw temperature wanders a little so the stream is visibly alive.
	let n = 0;
	const wobble = setInterval(() => (chip.adc.adcT = 519888 + Math.round(400 * Math.sin(n++ / 10))), 1000);
	return {
		id,
		kind: p.kind,
		path: busName,
		subsystem: "i2c-dev",
		properties: { ...udevPropertiesFor("bme280", undefined, p.bus ?? 1) },
		linesWritten: 0,
		linesSkipped: 0,
		stop: async () => {
			clearInterval(wobble);
			bus.chips.delete(address);
		}
	};
}

/**
 * A board on a PTY pair, with the udev properties and by-id link of the real one; the host end
 * is served (Modbus slave) or written (line protocols). The PTY is closed if that fails to start.
 */
async function plugPtyDevice(
	simDir: string,
	id: string,
	port: number,
	p: PlugParams,
	serial: string
): Promise<Plugged> {
	const props = udevPropertiesFor(p.kind, serial, port);
	const link = path.join(simDir, "serial/by-id", byIdName(props));
	const pty = await createPtyPair(link, path.join(simDir, "host", `${id}.pty`));
	props.DEVLINKS = link;
	props.DEVNAME = pty.deviceNode;
	const dev: Plugged = {
		id,
		kind: p.kind,
		path: pty.deviceNode,
		subsystem: "tty",
		properties: props,
		linesWritten: 0,
		linesSkipped: 0,
		stop: async () => undefined
	};
	let stopHost: () => Promise<void>;
	try {
		stopHost =
			p.kind === "modbus-sensor"
				? startModbusSlave(pty, dev).stop
				: await startLineWriter(pty, p.rateHz ?? (p.kind === "gps" ? 1 : 2), linesFor(p), dev);
	} catch (err) {
		await pty.close();
		throw err;
	}
	dev.stop = async () => {
		await stopHost().catch(() => undefined);
		await pty.close();
	};
	return dev;
}

/** The lines a line-protocol board sends as its n-th output. */
function linesFor(p: PlugParams): (n: number) => string[] {
	if (p.kind === "gps") return n => gpsSentences(n);
	if (p.kind === "esp32") return n => [esp32Line(n)];
	return n => [arduinoLine(n, p.lines)];
}

/**
 * A Modbus RTU slave on the host end: input registers 1/2 are temperature and humidity × 10;
 * holding registers take writes (shown in `dev.registers`).
 */
export function startModbusSlave(
	pty: PtyPair,
	dev: Pick<Plugged, "registers">
): { port: NodeJS.EventEmitter; stop: () => Promise<void> } {
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- only when Modbus is opened
	const { ServerSerial } = require("modbus-serial");
	const holding = new Map<number, number>([
		[1, 215],
		[2, 455]
	]);
	dev.registers = holding;
	const vector = {
		getInputRegister: (addr: number) =>
			addr === 1 ? Math.round((21.5 + Math.sin(Date.now() / 60000)) * 10) : addr === 2 ? 455 : 0,
		getHoldingRegister: (addr: number) => holding.get(addr) ?? 0,
		setRegister: (addr: number, value: number) => void holding.set(addr, value)
	};
	const server = new ServerSerial(vector, { path: pty.hostPath, baudRate: 9600, unitID: 1 });
	server.on("error", () => undefined);
	// modbus-serial pipes its SerialPort into a parser and listens for errors only on the parser: a reply
	// written after the PTY went away (EIO at shutdown or unplug) would be an unhandled 'error' on the port
	// itself and take the whole node down.
	const port: NodeJS.EventEmitter = server.getPort();
	port.on("error", () => undefined);
	return { port, stop: () => new Promise<void>(r => server.close(() => r())) };
}

/** Writes lines to the host end of a PTY at a rate; skips (and counts) when nobody reads. */
async function startLineWriter(
	pty: PtyPair,
	rateHz: number,
	next: (n: number) => string[],
	dev: Plugged
): Promise<() => Promise<void>> {
	const port = await new Promise<SerialPort>((resolve, reject) => {
		const p = new SerialPort({ path: pty.hostPath, baudRate: 115200, autoOpen: false, hupcl: false });
		p.open(err => (err ? reject(err) : resolve(p)));
	});
	port.on("error", () => undefined);
	const tickMs = Math.max(5, Math.min(1000, Math.round(1000 / rateHz)));
	let n = 0;
	let due = 0;
	const timer = setInterval(() => {
		due += (rateHz * tickMs) / 1000;
		let text = "";
		while (due >= 1) {
			due -= 1;
			for (const line of next(n++)) text += line + "\r\n";
		}
		if (!text) return;
		// A PTY nobody reads fills up; beyond 64 KB queued the firmware's lines are lost, as on a real UART.
		if (port.writableLength > 65536) {
			dev.linesSkipped++;
			return;
		}
		dev.linesWritten += text.split("\r\n").length - 1;
		port.write(text);
	}, tickMs);
	return async () => {
		clearInterval(timer);
		await new Promise<void>(r => (port.isOpen ? port.close(() => r()) : r()));
	};
}

/**
 * A simulated board's serial number, made once and kept in DATA_DIR: the same board after any
 * restart (whatever NODEID is), so the registry keeps its id instead of adding a new device.
 */
export function stableSerial(dataDir: string, id: string): string {
	const file = path.join(dataDir, "sim-devices", "serials.json");
	let known: Record<string, string> = {};
	try {
		known = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
	} catch {
		// First plug on this DATA_DIR.
	}
	if (!known[id]) {
		known[id] = `SIM${crypto.randomBytes(6).toString("hex").toUpperCase()}`;
		writePrivateFile(file, JSON.stringify(known, null, 1) + "\n");
	}
	return known[id];
}

export const DevicesMixin = defineMixin<DevicesThis>({
	actions: {
		plug: {
			rest: "POST /devices/plug",
			auth: "admin",
			params: {
				kind: { type: "enum", values: VIRTUAL_KINDS },
				id: { type: "string", pattern: /^[\w.-]{1,64}$/, optional: true },
				serial: { type: "string", pattern: /^[\w.-]{1,64}$/, optional: true },
				rateHz: { type: "number", positive: true, max: 5000, optional: true },
				lines: { type: "array", items: "string", max: 1000, optional: true },
				bus: { type: "number", integer: true, min: 0, max: 255, optional: true },
				address: { type: "number", integer: true, min: 3, max: 0x77, optional: true }
			},
			async handler(this: DevicesThis, ctx: Context<PlugParams>) {
				const d = await this.plugDevice(ctx.params);
				return { id: d.id, kind: d.kind, path: d.path, subsystem: d.subsystem, properties: d.properties };
			}
		},
		unplug: {
			rest: "POST /devices/unplug",
			auth: "admin",
			params: { id: { type: "string", min: 1 } },
			async handler(this: DevicesThis, ctx: Context<{ id: string }>) {
				if (!(await this.unplugDevice(ctx.params.id)))
					throw new Errors.MoleculerClientError(`no simulated device '${ctx.params.id}'`, 404, "NOT_FOUND");
				return { id: ctx.params.id, unplugged: true };
			}
		},
		devices: {
			rest: "GET /devices",
			auth: "user",
			params: {},
			handler(this: DevicesThis) {
				return [...this.plugged.values()].map(d => ({
					id: d.id,
					kind: d.kind,
					path: d.path,
					subsystem: d.subsystem,
					linesWritten: d.linesWritten,
					linesSkipped: d.linesSkipped,
					...(d.registers ? { registers: Object.fromEntries(d.registers) } : {})
				}));
			}
		},
		/** The simulated I2C bus of this node, with i2c-bus's operations (the processor's I2C link uses it). */
		i2c: {
			visibility: "public",
			params: {
				bus: { type: "string", min: 1 },
				op: { type: "enum", values: ["readByte", "readI2cBlock", "writeByte"] },
				address: { type: "number", integer: true, min: 0, max: 0x7f },
				command: { type: "number", integer: true, min: 0, max: 255 },
				length: { type: "number", integer: true, min: 1, max: 32, optional: true },
				byte: { type: "number", integer: true, min: 0, max: 255, optional: true }
			},
			async handler(
				this: DevicesThis,
				ctx: Context<{
					bus: string;
					op: string;
					address: number;
					command: number;
					length?: number;
					byte?: number;
				}>
			) {
				const p = ctx.params;
				const bus = this.i2cBuses.get(p.bus);
				if (!bus) throw new Errors.MoleculerClientError(`no simulated I2C bus '${p.bus}'`, 404, "NOT_FOUND");
				try {
					if (p.op === "readByte") return await bus.readByte(p.address, p.command);
					if (p.op === "writeByte") return await bus.writeByte(p.address, p.command, p.byte ?? 0);
					const buf = Buffer.alloc(p.length ?? 1);
					await bus.readI2cBlock(p.address, p.command, buf.length, buf);
					return [...buf];
				} catch (err) {
					throw new Errors.MoleculerClientError(errorMessage(err), 409, "I2C_IO_ERROR");
				}
			}
		}
	},

	methods: {
		async plugDevice(this: DevicesThis, p: PlugParams): Promise<Plugged> {
			const id = p.id ?? p.kind;
			if (this.plugged.has(id))
				throw new Errors.MoleculerClientError(`simulated device '${id}' is already plugged`, 409, "CONFLICT");
			const port = ++this.portSeq;
			const dev =
				p.kind === "bme280"
					? plugI2cChip(this.i2cBuses, id, p)
					: await plugPtyDevice(
							this.simDir,
							id,
							port,
							p,
							p.serial ?? stableSerial(fleetEnv(this.broker).dataDir, id)
						);
			this.plugged.set(id, dev);
			try {
				await this.broker.call(
					"detector.simulate",
					{ action: "add", path: dev.path, subsystem: dev.subsystem, properties: dev.properties },
					{ nodeID: this.broker.nodeID }
				);
			} catch (err) {
				this.plugged.delete(id);
				await dev.stop();
				throw err;
			}
			this.logger.info(`simulator: plugged ${p.kind} '${id}' at ${dev.path}`);
			return dev;
		},

		async unplugDevice(this: DevicesThis, id: string): Promise<boolean> {
			const dev = this.plugged.get(id);
			if (!dev) return false;
			this.plugged.delete(id);
			// The tty vanishes and udev reports the removal: both at once, as on a real unplug.
			await Promise.all([
				dev.stop(),
				this.broker
					.call(
						"detector.simulate",
						{ action: "remove", path: dev.path, subsystem: dev.subsystem, properties: dev.properties },
						{ nodeID: this.broker.nodeID }
					)
					.catch(err => this.logger.warn(`simulator: unplug ${id}: ${errorMessage(err)}`))
			]);
			this.logger.info(`simulator: unplugged '${id}'`);
			return true;
		}
	},

	created(this: DevicesThis) {
		this.plugged = new Map();
		this.i2cBuses = new Map();
		this.portSeq = 0;
		this.simDir = path.join(
			fleetEnv(this.broker).dataDir,
			"sim-devices",
			this.broker.nodeID.replace(/[^\w.-]/g, "_")
		);
	},

	async started(this: DevicesThis) {
		if (!fleetEnv(this.broker).simulate) return;
		// Not awaited: the node starts at once; the devices appear when the detector is up.
		void (async () => {
			try {
				await this.broker.waitForServices(["detector"], 30_000);
			} catch {
				this.logger.warn("simulator: no detector on this node; simulated devices not plugged");
				return;
			}
			for (const kind of ["arduino-uno", "gps", "modbus-sensor", "bme280"] as VirtualKind[]) {
				if (this.plugged.has(kind)) continue;
				await this.plugDevice({ kind }).catch(err =>
					this.logger.warn(`simulator: cannot plug ${kind}: ${errorMessage(err)}`)
				);
			}
		})();
	},

	async stopped(this: DevicesThis) {
		await Promise.all([...this.plugged.values()].map(d => d.stop().catch(() => undefined)));
		this.plugged.clear();
	}
});

export default DevicesMixin;
