/**
 * The builder plugin interface: a builder opens one disposable build environment per job
 * (a container, a copied ImageBuilder tree, or the simulated ImageBuilder); the build flow
 * (../build-flow.ts) runs the same `make` goals in any of them.
 */
import type { BuildRequest } from "../../shared/contracts/builds";
import type { ExecResult } from "../simulated-ib";

export interface BuildEnv {
	/** BIN_DIR as the ImageBuilder sees it. */
	readonly binDir: string;
	/** FILES (uci-defaults) directory as the ImageBuilder sees it. */
	readonly filesDir: string;
	exec(argv: string[], o?: { signal?: AbortSignal }): Promise<ExecResult>;
	/** Files relative to the ImageBuilder root (keys/<fp>, repositories(.conf), asu-files/…). */
	putFiles(files: Record<string, string | Buffer>): Promise<void>;
	/** A file relative to the ImageBuilder root, or null. */
	readFile(rel: string): Promise<string | null>;
	/** BIN_DIR -> dest (the store directory of the job). */
	copyOut(dest: string): Promise<void>;
	close(): Promise<void>;
}

export interface Builder {
	readonly name: "podman" | "local" | "simulated";
	/** Images are stand-ins, not firmware (said in build_cmd, the log and the dashboard). */
	readonly simulated: boolean;
	/** null when the builder can run on this node, else why not (said at start). */
	check(): Promise<string | null>;
	open(req: BuildRequest, requestHash: string, signal: AbortSignal): Promise<BuildEnv>;
}
