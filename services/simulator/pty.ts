/**
 * A pair of real pseudo-terminals joined by socat: the simulator writes to one end as a
 * board's firmware would, the processor opens the other with serialport as it would open
 * /dev/ttyUSB0. Killing socat removes both links, as unplugging removes the tty.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface PtyPair {
	/** The end a processor opens (a link such as …/serial/by-id/usb-Arduino…). */
	deviceLink: string;
	/** The kernel name behind it (/dev/pts/N), what udev would call DEVNAME. */
	deviceNode: string;
	/** The end the simulated firmware writes to. */
	hostPath: string;
	child: ChildProcess;
	close(): Promise<void>;
}

export async function createPtyPair(deviceLink: string, hostPath: string, timeoutMs = 5000): Promise<PtyPair> {
	fs.mkdirSync(path.dirname(deviceLink), { recursive: true });
	fs.mkdirSync(path.dirname(hostPath), { recursive: true });
	for (const p of [deviceLink, hostPath]) fs.rmSync(p, { force: true });
	// socat lives exactly as long as our end of its stdin pipe: if this process dies (even by
	// SIGKILL) the pipe closes and socat is stopped, so no orphan keeps the PTYs and links.
	// (fd 3: a background job of a non-interactive shell gets /dev/null as its stdin.)
	const child = spawn(
		"sh",
		[
			"-c",
			'command -v socat >/dev/null || { echo "socat not found" >&2; exit 127; }; exec 3<&0; socat ' +
				'"$0" "$1" & p=$!; (cat <&3 >/dev/null; kill $p 2>/dev/null) & wait $p',
			`pty,raw,echo=0,link=${deviceLink}`,
			`pty,raw,echo=0,link=${hostPath}`
		],
		{
			stdio: ["pipe", "ignore", "pipe"]
		}
	);
	let stderr = "";
	child.stderr!.on("data", d => (stderr += d.toString()));
	let exited = false;
	const exitedP = new Promise<void>(r => child.once("exit", () => ((exited = true), r())));
	child.once("error", () => undefined);
	const deadline = Date.now() + timeoutMs;
	while (!(fs.existsSync(deviceLink) && fs.existsSync(hostPath))) {
		if (exited || Date.now() > deadline) {
			child.stdin!.end();
			throw new Error(
				`socat did not create the PTY ` +
					`pair${stderr ? `: ${stderr.trim()}` : exited ? " (exited; is socat installed?)" : ""}`
			);
		}
		await new Promise(r => setTimeout(r, 10));
	}
	return {
		deviceLink,
		deviceNode: fs.realpathSync(deviceLink),
		hostPath,
		child,
		async close() {
			if (!exited) child.stdin!.end();
			await exitedP;
		}
	};
}
