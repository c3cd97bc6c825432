/**
 * The simulator's Modbus RTU slave on a real PTY pair (socat). modbus-serial listens for errors only on the parser it
 * pipes its SerialPort into, so a reply written as the PTY goes away (EIO at shutdown, seen in CI as a crash of
 * `npm start` on SIGTERM) was an unhandled 'error' on the port itself.
 */
import { execSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startModbusSlave } from "../../services/simulator/devices.mixin";
import { createPtyPair } from "../../services/simulator/pty";
import { tempDir, waitFor } from "../helpers/broker";

const dir = tempDir("simulator-modbus");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Read input register 1 of unit 1, with its CRC. */
const READ_IR1 = Buffer.from([0x01, 0x04, 0x00, 0x01, 0x00, 0x01, 0x60, 0x0a]);

describe("simulator: Modbus RTU slave", () => {
	it("answers a request, and a port error or the PTY dying mid-request does not throw", async () => {
		const pty = await createPtyPair(path.join(dir, "dev"), path.join(dir, "host"));
		const dev: { registers?: Map<number, number> } = {};
		const slave = startModbusSlave(pty, dev);
		const fd = fs.openSync(pty.deviceLink, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
		try {
			// A real answer first: the slave is up and the PTY carries both ways.
			await new Promise(r => setTimeout(r, 200));
			fs.writeSync(fd, READ_IR1);
			const got: number[] = [];
			await waitFor(() => {
				const b = Buffer.alloc(64);
				try {
					got.push(...b.subarray(0, fs.readSync(fd, b)));
				} catch {
					// EAGAIN: nothing yet
				}
				return got.length >= 7;
			}, 5000);
			expect(got.slice(0, 3)).toEqual([0x01, 0x04, 0x02]);
			expect(dev.registers?.get(1)).toBe(215);

			// Injected (the kernel cannot be made to fail one write on cue): what a write hitting EIO emits. Without a
			// listener on the port this throws here, as it threw in the node's event loop.
			const eio = Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
			expect(() => slave.port.emit("error", eio)).not.toThrow();

			// The real thing: socat killed between a request and its reply (the reply goes out ~30 ms later).
			fs.writeSync(fd, READ_IR1);
			execSync(`pkill -KILL -P ${pty.child.pid} socat`);
			await new Promise(r => setTimeout(r, 300));
		} finally {
			fs.closeSync(fd);
			await pty.close();
			await slave.stop();
		}
	});
});
