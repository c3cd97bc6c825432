/**
 * The one way the pipeline benchmarks (bench/pipeline, bench/peers) run their load generator:
 * bench/pipeline/publisher.ts in one or more processes of its own, the controllers split
 * between them, started together once every process is connected.
 */
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

export type PublisherKind = "lean" | "mqttjs";
export const PUBLISHER_KINDS: PublisherKind[] = ["lean", "mqttjs"];

export interface PublishOptions {
	url: string;
	macs: string[];
	/** Frames over all processes. */
	frames: number;
	/** Frames per second over all processes; 0 = flat out (a bounded in-flight window per process). */
	rate: number;
	qos: 0 | 1;
	publisher: PublisherKind;
	processes?: number;
	/** JSON file of { mac: { cert, key, ca } } for mqtts:// */
	tlsFile?: string;
	/** PUBLISH_SENSORS of the publisher, e.g. "1" (default "1,2"). */
	sensors?: string;
}

export interface PublishResult {
	/** First publish (all processes start together) and last PUBACK. */
	t0: number;
	t1: number;
	frames: number;
	acked: number;
	/** CPU seconds of the publisher processes from /proc, start-up (tsx, connecting) included. */
	cpu: number;
	/** CPU seconds of the processes from their first publish to their last PUBACK. */
	cpuRun: number;
}

/** utime+stime of a process in seconds (0 once it is gone). */
export function cpuOf(pid: number | undefined): number {
	if (!pid) return 0;
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return (Number(f[11]) + Number(f[12])) / CLK_TCK;
	} catch {
		return 0;
	}
}

interface Done {
	frames: number;
	acked: number;
	t0: number;
	t1: number;
	cpuRun: number;
}

/** Runs the publisher processes; resolves when every one has every PUBACK. */
export async function spawnPublishers(opts: PublishOptions): Promise<PublishResult> {
	const n = Math.min(opts.processes ?? 1, opts.macs.length);
	const per = Math.ceil(opts.macs.length / n);
	const children = Array.from({ length: n }, (_, p) => {
		const macs = opts.macs.slice(p * per, (p + 1) * per);
		const frames = Math.floor(opts.frames / n) + (p < opts.frames % n ? 1 : 0);
		const rate = opts.rate > 0 ? opts.rate / n : 0;
		const child = spawn(
			process.execPath,
			[
				"--import",
				"tsx",
				path.join(ROOT, "bench/pipeline/publisher.ts"),
				opts.url,
				macs.join(","),
				String(frames),
				String(rate),
				String(opts.qos),
				...(opts.tlsFile ? [opts.tlsFile] : []),
				"--publisher",
				opts.publisher,
				"--sync"
			],
			{
				cwd: ROOT,
				env: { ...process.env, ...(opts.sensors ? { PUBLISH_SENSORS: opts.sensors } : {}) },
				stdio: ["pipe", "pipe", "inherit"]
			}
		);
		let out = "";
		let cpu = 0;
		let onReady: () => void = () => undefined;
		const ready = new Promise<void>(r => (onReady = r));
		const done = new Promise<Done & { cpu: number }>((resolve, reject) => {
			child.stdout!.on("data", d => {
				out += d;
				if (out.includes('"ready"')) onReady();
				// Read before it exits: /proc of the child goes with it.
				if (out.includes('"done"') && !cpu) cpu = cpuOf(child.pid);
			});
			child.on("exit", code => {
				const line = out.split("\n").find(l => l.includes('"done"'));
				if (code !== 0 || !line) return reject(new Error(`publisher exited ${code}: ${out}`));
				resolve({ ...(JSON.parse(line) as Done), cpu });
			});
		});
		done.catch(() => undefined); // awaited below; a failure before "ready" rejects `ready` too
		return { child, ready: Promise.race([ready, done.then(() => undefined)]), done };
	});
	try {
		await Promise.all(children.map(c => c.ready));
	} catch (err) {
		for (const c of children) c.child.kill("SIGKILL");
		throw err;
	}
	for (const c of children) c.child.stdin!.end("go\n");
	const done = await Promise.all(children.map(c => c.done));
	const result: PublishResult = {
		t0: Math.min(...done.map(d => d.t0)),
		t1: Math.max(...done.map(d => d.t1)),
		frames: done.reduce((s, d) => s + d.frames, 0),
		acked: done.reduce((s, d) => s + d.acked, 0),
		cpu: done.reduce((s, d) => s + d.cpu, 0),
		cpuRun: done.reduce((s, d) => s + d.cpuRun, 0)
	};
	if (result.frames !== opts.frames || result.acked !== opts.frames)
		throw new Error(`publishers sent ${result.frames} frames, ${result.acked} acknowledged, of ${opts.frames}`);
	return result;
}
