/**
 * Serial link: opens a tty (the stable by-id link first, the kernel name as fallback).
 *
 * On Linux the port reads through PollReadBinding below instead of serialport's own read; everything else (termios
 * set-up, the exclusive lock, writes, drain, close) is @serialport/bindings-cpp's LinuxBinding unchanged. Other
 * platforms use the stock binding.
 */
import fs from "node:fs";
import {
	autoDetect,
	BindingsError,
	LinuxBinding,
	type LinuxOpenOptions,
	type LinuxPortBinding,
	type LinuxSetOptions
} from "@serialport/bindings-cpp";
import type { BindingInterface, BindingPortInterface, UpdateOptions } from "@serialport/bindings-interface";
import { SerialPortStream } from "@serialport/stream";

export interface SerialOptions {
	baudRate: number;
	dataBits?: 5 | 6 | 7 | 8;
	parity?: "none" | "even" | "odd" | "mark" | "space";
	stopBits?: 1 | 1.5 | 2;
	/** Linux: ms to let pass after the port turns readable before reading it (SERIAL_READ_COALESCE_MS); 0 = none. */
	coalesceMs?: number;
}

export type SerialLink = SerialPortStream;

/** The first of the candidate paths that exists on this node. */
export function resolvePath(primary: string, fallback?: string): string {
	if (fs.existsSync(primary) || !fallback) return primary;
	return fallback;
}

export function openSerial(path: string, opts: SerialOptions): Promise<SerialLink> {
	return new Promise((resolve, reject) => {
		const port = new SerialPortStream({
			binding: serialBinding(process.platform, opts.coalesceMs ?? 0),
			path,
			baudRate: opts.baudRate,
			dataBits: opts.dataBits ?? 8,
			parity: opts.parity ?? "none",
			stopBits: opts.stopBits ?? 1,
			autoOpen: false,
			hupcl: false
		});
		port.open(err => (err ? reject(err) : resolve(port)));
	});
}

/** Linux: LinuxBinding reading with PollReadPort; elsewhere serialport's own binding for the platform. */
export function serialBinding(platform: NodeJS.Platform, coalesceMs: number): BindingInterface {
	return platform === "linux" ? pollReadBinding(coalesceMs) : autoDetect();
}

/** LinuxBinding whose ports read with PollReadPort. */
export function pollReadBinding(coalesceMs: number): BindingInterface<PollReadPort, LinuxOpenOptions> {
	return {
		list: () => LinuxBinding.list(),
		open: async options => new PollReadPort(await LinuxBinding.open(options), coalesceMs)
	};
}

/** Errors upstream's unixRead marks as a lost device (the stream closes the port on any read error but these). */
const DISCONNECT_CODES = new Set(["EBADF", "ENXIO", "EIO", "UNKNOWN"]);
const RETRY_CODES = new Set(["EAGAIN", "EWOULDBLOCK", "EINTR"]);

/**
 * A LinuxPortBinding that reads on the event loop instead of libuv's thread pool.
 *
 * Upstream's read does, per chunk, an fs.read on the thread pool, then another that fails with EAGAIN, then waits for
 * the fd's uv_poll: two thread-pool round trips per line a device sends; at 2,000 lines/s that was 43 % of an edge
 * node's busy time. This read waits for the same poller's "readable" (epoll), lets `coalesceMs` pass so that lines
 * arriving meanwhile come in the same read (it bounds the latency added), then reads once with readSync. The fd is
 * opened O_NONBLOCK by the binding (serialport_unix.cpp), so readSync never blocks the loop: a spurious wake-up is
 * EAGAIN, and it waits again.
 *
 * Close while a read waits: close() stops the poller, which fails every waiter with a canceled BindingsError (the
 * stream then neither emits an error nor closes twice); a read whose coalescing window is running finds the fd gone
 * (null) and is canceled the same way, so it never reads a closed, possibly reused, fd number.
 */
export class PollReadPort implements BindingPortInterface {
	constructor(
		readonly inner: LinuxPortBinding,
		readonly coalesceMs: number
	) {}

	get openOptions(): Required<LinuxOpenOptions> {
		return this.inner.openOptions;
	}
	get isOpen(): boolean {
		return this.inner.isOpen;
	}

	async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
		if (buffer.length < offset + length) throw new Error("buffer is too small");
		for (;;) {
			await this.readable();
			if (this.coalesceMs > 0) await new Promise(r => setTimeout(r, this.coalesceMs));
			const fd = this.inner.fd;
			if (fd === null) throw canceled();
			let bytesRead: number;
			try {
				bytesRead = fs.readSync(fd, buffer, offset, length, null);
			} catch (err) {
				const e = err as NodeJS.ErrnoException & { disconnect?: boolean };
				if (e.code && RETRY_CODES.has(e.code)) continue;
				if ((e.code && DISCONNECT_CODES.has(e.code)) || e.errno === -1) e.disconnect = true;
				throw e;
			}
			if (bytesRead > 0) return { buffer, bytesRead };
			// 0 on a tty opened with VMIN 1 is end of file: the tty was hung up (device unplugged, PTY master gone).
			// Upstream's read would retry it forever; here it is a lost link.
			throw Object.assign(new Error("serial port hung up (end of file)"), { disconnect: true });
		}
	}

	private readable(): Promise<void> {
		if (!this.isOpen) return Promise.reject(canceled());
		return new Promise((resolve, reject) =>
			this.inner.poller.once("readable", err => (err ? reject(err) : resolve()))
		);
	}

	close(): Promise<void> {
		return this.inner.close();
	}
	write(buffer: Buffer): Promise<void> {
		return this.inner.write(buffer);
	}
	update(options: UpdateOptions): Promise<void> {
		return this.inner.update(options);
	}
	set(options: LinuxSetOptions): Promise<void> {
		return this.inner.set(options);
	}
	get(): ReturnType<LinuxPortBinding["get"]> {
		return this.inner.get();
	}
	getBaudRate(): Promise<{ baudRate: number }> {
		return this.inner.getBaudRate();
	}
	flush(): Promise<void> {
		return this.inner.flush();
	}
	drain(): Promise<void> {
		return this.inner.drain();
	}
}

function canceled(): Error {
	return new BindingsError("Port is not open", { canceled: true });
}
