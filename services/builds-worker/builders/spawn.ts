import { spawn } from "node:child_process";
import type { ExecResult } from "../simulated-ib";
import { errorMessage } from "../../shared/error-message";

/** Runs a command in its own process group; an abort kills the whole group (make and its children). */
export function run(
	argv: string[],
	o: { cwd?: string; signal?: AbortSignal; input?: Buffer; env?: NodeJS.ProcessEnv } = {}
): Promise<ExecResult> {
	return new Promise(resolve => {
		let child;
		try {
			child = spawn(argv[0], argv.slice(1), {
				cwd: o.cwd,
				env: o.env ?? process.env,
				detached: true,
				stdio: ["pipe", "pipe", "pipe"]
			});
		} catch (err) {
			return resolve({ code: 127, stdout: "", stderr: `${argv[0]}: ${errorMessage(err)}\n` });
		}
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", d => (stdout += d));
		child.stderr.on("data", d => (stderr += d));
		const kill = () => {
			try {
				process.kill(-child.pid!, "SIGKILL");
			} catch {
				/* already gone */
			}
		};
		o.signal?.addEventListener("abort", kill, { once: true });
		child.on("error", err => resolve({ code: 127, stdout, stderr: stderr + `${argv[0]}: ${err.message}\n` }));
		child.on("close", code => {
			o.signal?.removeEventListener("abort", kill);
			resolve({ code: code ?? 137, stdout, stderr });
		});
		child.stdin.end(o.input);
	});
}
