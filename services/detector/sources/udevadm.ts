/**
 * udevadm source: `udevadm monitor --udev --property` for tty, usb and i2c-dev (event-driven),
 * and `udevadm info --export-db` for the initial enumeration and rescans.
 *
 * The parsers are plain functions over udevadm's text output so they are tested on recorded
 * output; the process handling is thin.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import type { UdevProperties } from "../../shared/contracts";
import { WATCHED_SUBSYSTEMS, type DeviceSource, type RawDevice, type RawDeviceEvent } from "./types";

const execFileAsync = promisify(execFile);

/**
 * Incremental parser of `udevadm monitor --udev --property` output: blocks separated by a
 * blank line, a header `UDEV  [1234.5678] add      /devices/... (tty)` followed by KEY=VALUE
 * lines. Feed it chunks as they arrive; complete events come out.
 */
export class UdevMonitorParser {
	private pending = "";
	private block: string[] = [];

	feed(chunk: string): RawDeviceEvent[] {
		this.pending += chunk;
		const out: RawDeviceEvent[] = [];
		let nl: number;
		while ((nl = this.pending.indexOf("\n")) >= 0) {
			const line = this.pending.slice(0, nl).replace(/\r$/, "");
			this.pending = this.pending.slice(nl + 1);
			if (line.trim() === "") {
				const ev = parseMonitorBlock(this.block);
				if (ev) out.push(ev);
				this.block = [];
			} else this.block.push(line);
		}
		return out;
	}

	/** The last block when the stream ends without a blank line. */
	end(): RawDeviceEvent[] {
		const out = this.feed("\n\n");
		return out;
	}
}

function parseProps(lines: string[]): UdevProperties {
	const props: UdevProperties = {};
	for (const line of lines) {
		const eq = line.indexOf("=");
		if (eq <= 0) continue;
		props[line.slice(0, eq).trim()] = line.slice(eq + 1);
	}
	return props;
}

/** One block of monitor output → event, or null for headers, kernel events and other actions. */
export function parseMonitorBlock(lines: string[]): RawDeviceEvent | null {
	if (lines.length === 0) return null;
	// Banner lines ("monitor will print…", "UDEV - the event which udev sends…") have no '='.
	const props = parseProps(lines.filter(l => !/^(UDEV|KERNEL)\s*\[/.test(l)));
	const action = props.ACTION;
	const subsystem = props.SUBSYSTEM;
	if ((action !== "add" && action !== "remove") || !subsystem) return null;
	const path = props.DEVNAME;
	if (!path) return null;
	return { action, subsystem, path, properties: props };
}

/** `udevadm info --export-db` → the devices it lists (blocks of `P:`, `N:`, `E: KEY=VALUE`). */
export function parseExportDb(text: string): RawDevice[] {
	const out: RawDevice[] = [];
	for (const block of text.split(/\n\s*\n/)) {
		const props: UdevProperties = {};
		for (const line of block.split("\n")) {
			const m = /^E: ([^=]+)=(.*)$/.exec(line);
			if (m) props[m[1]] = m[2];
		}
		if (props.DEVNAME && props.SUBSYSTEM)
			out.push({ path: props.DEVNAME, subsystem: props.SUBSYSTEM, properties: props });
	}
	return out;
}

export class UdevadmSource implements DeviceSource {
	readonly name = "udevadm" as const;
	private child: ChildProcess | null = null;
	private stopped = false;

	constructor(
		private readonly binary = "udevadm",
		private readonly log: { warn(msg: string): void } = console
	) {}

	async start(emit: (ev: RawDeviceEvent) => void): Promise<void> {
		this.stopped = false;
		const run = () => {
			const args = ["monitor", "--udev", "--property", ...WATCHED_SUBSYSTEMS.map(s => `--subsystem-match=${s}`)];
			const child = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
			this.child = child;
			const parser = new UdevMonitorParser();
			child.stdout!.setEncoding("utf8");
			child.stdout!.on("data", (chunk: string) => {
				for (const ev of parser.feed(chunk)) emit(ev);
			});
			child.on("error", err => this.log.warn(`udevadm monitor: ${err.message}`));
			child.on("exit", code => {
				this.child = null;
				// udevd restarted or the monitor died: start it again rather than go blind.
				if (!this.stopped) {
					this.log.warn(`udevadm monitor exited (${code}); restarting in 1 s`);
					setTimeout(() => !this.stopped && run(), 1000).unref();
				}
			});
		};
		run();
	}

	async stop(): Promise<void> {
		this.stopped = true;
		this.child?.kill();
		this.child = null;
	}

	async scan(): Promise<RawDevice[]> {
		const { stdout } = await execFileAsync(this.binary, ["info", "--export-db"], { maxBuffer: 64 * 1024 * 1024 });
		return parseExportDb(stdout).filter(d => (WATCHED_SUBSYSTEMS as readonly string[]).includes(d.subsystem));
	}
}
