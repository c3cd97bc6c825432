/**
 * A fleetmesh node in its own OS process, started the way `npm start` starts one
 * (bin/runner.ts + moleculer.config.ts), with the environment the test gives it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

export interface NodeProcess {
	child: ChildProcess;
	output: () => string;
	waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
	exited: Promise<number | null>;
	kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a node. `services` lists service files or folders (relative to services/), or a
 * test fixture path; the runner resolves them as moleculer-runner does. `nodeArgs` go to node
 * itself (benchmarks: `--cpu-prof`, which NODE_OPTIONS does not take).
 */
export function startNode(env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): NodeProcess {
	const runner = ["--import", "tsx", path.join(ROOT, "bin/runner.ts"), "--config", "moleculer.config.ts"];
	return spawnRunner([...nodeArgs, ...runner, "--mask", "**/*.service.ts", ...args], "services", env);
}

/**
 * A node as `npm start` runs it, without npm: node on the compiled dist/bin/runner.js (run
 * scripts/compile.mjs first). Benchmarks use it to measure what production runs.
 */
export function startCompiledNode(env: Record<string, string>, nodeArgs: string[] = []): NodeProcess {
	const runner = [path.join(ROOT, "dist/bin/runner.js"), "--config", "dist/moleculer.config.js"];
	return spawnRunner([...nodeArgs, ...runner, "--mask", "**/*.service.js"], "dist/services", env);
}

/** node with these arguments, a clean environment (PATH, HOME, JSON logs) plus the test's own. */
function spawnRunner(argv: string[], serviceDir: string, env: Record<string, string>): NodeProcess {
	return wrapNode(
		spawn(process.execPath, argv, {
			cwd: ROOT,
			env: {
				PATH: process.env.PATH ?? "",
				HOME: process.env.HOME ?? "/root",
				LOG_FORMAT: "json",
				SERVICEDIR: serviceDir,
				...env
			},
			stdio: ["ignore", "pipe", "pipe"]
		})
	);
}

function wrapNode(child: ChildProcess): NodeProcess {
	let out = "";
	const listeners = new Set<() => void>();
	const onData = (d: Buffer) => {
		out += d.toString();
		for (const l of listeners) l();
	};
	child.stdout!.on("data", onData);
	child.stderr!.on("data", onData);
	const exited = new Promise<number | null>(resolve => child.once("exit", code => resolve(code)));
	return {
		child,
		output: () => out,
		exited,
		waitForOutput(pattern, timeoutMs = 30_000) {
			return new Promise((resolve, reject) => {
				const check = () => {
					const m = out.match(pattern);
					if (m) {
						cleanup();
						resolve(m);
					}
				};
				const timer = setTimeout(() => {
					cleanup();
					reject(new Error(`timed out waiting for ${pattern} in node output:\n${out.slice(-3000)}`));
				}, timeoutMs);
				const cleanup = () => {
					clearTimeout(timer);
					listeners.delete(check);
				};
				listeners.add(check);
				check();
			});
		},
		async kill(signal = "SIGTERM") {
			if (child.exitCode == null && child.signalCode == null) child.kill(signal);
			return exited;
		}
	};
}
