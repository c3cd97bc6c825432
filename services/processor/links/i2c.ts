/**
 * I2C link: a real bus through i2c-bus (/dev/i2c-N), or the simulator's bus on this node
 * (path "sim-i2c-N"), reached through the `simulator.i2c` action with the same interface.
 */
import type { ServiceBroker } from "moleculer";
import type { I2cBusLike } from "../protocols/bme280";

/** The simulated bus, proxied through `simulator.i2c` on this node. */
export class SimulatorI2cBus implements I2cBusLike {
	constructor(
		private readonly broker: ServiceBroker,
		private readonly bus: string
	) {}

	private call<T>(op: string, args: Record<string, unknown>): Promise<T> {
		return this.broker.call(
			"simulator.i2c",
			{ bus: this.bus, op, ...args },
			{ nodeID: this.broker.nodeID, retries: 0 }
		);
	}

	readByte(address: number, command: number): Promise<number> {
		return this.call("readByte", { address, command });
	}

	async readI2cBlock(address: number, command: number, length: number, buffer: Buffer) {
		const bytes = await this.call<number[]>("readI2cBlock", { address, command, length });
		Buffer.from(bytes).copy(buffer);
		return { bytesRead: bytes.length, buffer };
	}

	writeByte(address: number, command: number, byte: number): Promise<void> {
		return this.call("writeByte", { address, command, byte });
	}

	async close(): Promise<void> {}
}

export async function openI2cBus(broker: ServiceBroker, path: string): Promise<I2cBusLike> {
	if (path.startsWith("sim-i2c")) return new SimulatorI2cBus(broker, path);
	const m = /i2c-(\d+)$/.exec(path);
	if (!m) throw new Error(`'${path}' is not an I2C bus device (/dev/i2c-N)`);
	// Loaded lazily: a node without I2C never touches the native module.
	const i2c = await import("i2c-bus");
	return (await i2c.openPromisified(Number(m[1]))) as unknown as I2cBusLike;
}
