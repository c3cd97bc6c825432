/**
 * The serial link's Linux read (services/processor/links/serial.ts) on real PTYs (socat): several lines in one read
 * within the coalescing window, a line split across reads, close while a read waits (for the poller or in the
 * window), the device disappearing, writes through the upstream binding, the stock binding off Linux.
 */
import fs from "node:fs";
import path from "node:path";
import { autoDetect } from "@serialport/bindings-cpp";
import { afterAll, describe, expect, it } from "vitest";
import { openSerial, PollReadPort, serialBinding, type SerialLink } from "../../services/processor/links/serial";
import { LineSplitter } from "../../services/processor/protocols/line";
import { createPtyPair, type PtyPair } from "../../services/simulator/pty";
import { tempDir, waitFor } from "../helpers/broker";

const dir = tempDir("serial-read");
const open: Array<{ pty: PtyPair; fd: number; port: SerialLink }> = [];
let n = 0;

/** A PTY pair, its host end opened as the device's firmware, and the device end opened with openSerial. */
async function device(coalesceMs: number) {
	const i = n++;
	const pty = await createPtyPair(path.join(dir, `dev-${i}`), path.join(dir, `host-${i}`));
	const fd = fs.openSync(pty.hostPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
	const port = await openSerial(pty.deviceLink, { baudRate: 9600, coalesceMs });
	open.push({ pty, fd, port });
	const chunks: string[] = [];
	const errors: Error[] = [];
	const closed: Array<Error | null> = [];
	// socat makes its PTYs raw just after creating the links: a write right away may still get "\r\n" (onlcr).
	port.on("data", (b: Buffer) => chunks.push(b.toString().replace(/\r/g, "")));
	port.on("error", err => errors.push(err));
	port.on("close", (err: Error | null) => closed.push(err));
	return { pty, port, chunks, errors, closed, write: (s: string) => fs.writeSync(fd, s) };
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

afterAll(async () => {
	for (const d of open) {
		if (d.port.isOpen) await new Promise(r => d.port.close(r));
		fs.closeSync(d.fd);
		await d.pty.close();
	}
	fs.rmSync(dir, { recursive: true, force: true });
});

describe("serial link: Linux read without the thread pool", () => {
	it("opens through PollReadPort on Linux, serialport's own binding elsewhere", async () => {
		const d = await device(0);
		expect(d.port.port).toBeInstanceOf(PollReadPort);
		expect(serialBinding("darwin", 5)).toBe(autoDetect());
		expect(serialBinding("win32", 5)).toBe(autoDetect());
	});

	it("lines arriving within the coalescing window come in one read", async () => {
		const d = await device(1000);
		// Three writes 20 ms apart: without the window each would be read on its own.
		d.write("a:1\n");
		await sleep(20);
		d.write("a:2\n");
		await sleep(20);
		d.write("a:3\n");
		await waitFor(() => d.chunks.length > 0, 5000, "a read");
		expect(d.chunks).toEqual(["a:1\na:2\na:3\n"]);
	});

	it("without a window every chunk is read as it comes; a line split across reads is joined", async () => {
		const d = await device(0);
		const splitter = new LineSplitter(256);
		const lines: string[] = [];
		d.port.on("data", (b: Buffer) => lines.push(...splitter.push(Buffer.from(b.toString().replace(/\r/g, "")))));
		d.write("temperat");
		await waitFor(() => d.chunks.length === 1, 5000, "the first half");
		expect(lines).toEqual([]);
		d.write("ure:21.5\nh:40");
		await waitFor(() => d.chunks.length === 2, 5000, "the second half");
		d.write("\n");
		await waitFor(() => lines.length === 2, 5000, "both lines");
		expect(d.chunks).toEqual(["temperat", "ure:21.5\nh:40", "\n"]);
		expect(lines).toEqual(["temperature:21.5", "h:40"]);
	});

	it("writes go to the device (upstream's write and drain)", async () => {
		const d = await device(5);
		await new Promise<void>((resolve, reject) =>
			d.port.write("cmd\n", err => (err ? reject(err) : d.port.drain(e => (e ? reject(e) : resolve()))))
		);
		const fd = open[open.length - 1].fd;
		const got = await waitFor(() => {
			try {
				const b = Buffer.alloc(64);
				return b.subarray(0, fs.readSync(fd, b, 0, b.length, null)).toString();
			} catch {
				return "";
			}
		}, 5000);
		expect(got).toBe("cmd\n");
	});

	it("close while a read waits for the poller: closed cleanly, no error, no disconnect", async () => {
		const d = await device(0);
		await sleep(50); // the stream's read is waiting for "readable"
		await new Promise<void>((resolve, reject) => d.port.close(err => (err ? reject(err) : resolve())));
		expect(d.closed).toEqual([null]);
		expect(d.errors).toEqual([]);
		expect(d.port.isOpen).toBe(false);
	});

	it("close during the coalescing window: the pending read is canceled and never reads the closed fd", async () => {
		const d = await device(500);
		d.write("late:1\n");
		await sleep(100); // readable has fired; the window runs
		await new Promise<void>((resolve, reject) => d.port.close(err => (err ? reject(err) : resolve())));
		// A new fd very likely takes the closed one's number: the canceled read must not read it.
		const other = fs.openSync(open[open.length - 1].pty.hostPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
		await sleep(600);
		fs.closeSync(other);
		expect(d.chunks).toEqual([]);
		expect(d.errors).toEqual([]);
		expect(d.closed).toEqual([null]);
	});

	it("the device disappearing while a read waits closes the port as disconnected", async () => {
		const d = await device(0);
		d.write("x:1\n");
		await waitFor(() => d.chunks.length === 1, 5000, "a line");
		await d.pty.close(); // socat gone: the tty is hung up, as when a USB adapter is pulled
		const err = await waitFor(() => d.closed[0], 5000, "the close event");
		expect((err as Error & { disconnected?: boolean }).disconnected).toBe(true);
		expect(d.port.isOpen).toBe(false);
		expect(d.errors).toEqual([]);
	});

	it("the device disappearing during the coalescing window: the data read, then disconnected", async () => {
		const d = await device(300);
		d.write("y:1\n");
		await sleep(50); // readable has fired; the window runs
		await d.pty.close();
		const err = await waitFor(() => d.closed[0], 5000, "the close event");
		expect((err as Error & { disconnected?: boolean }).disconnected).toBe(true);
		expect(d.errors).toEqual([]);
	});
});
