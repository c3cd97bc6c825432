/** The simulated builder: the stand-in ImageBuilder in a scratch directory per job. */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ReleaseMetadata } from "../../shared/asu/metadata";
import type { BuildRequest } from "../../shared/contracts/builds";
import { SimulatedImageBuilder } from "../simulated-ib";
import type { BuildEnv, Builder } from "./types";
import { putFilesUnder, readUnder } from "./fs-util";

export class SimulatedBuilder implements Builder {
	readonly name = "simulated" as const;
	readonly simulated = true;
	constructor(
		private readonly meta: ReleaseMetadata,
		private readonly opts: { imageKib: number; buildMs: number }
	) {}

	async check(): Promise<string | null> {
		return (await this.meta.versions()).versions.length
			? null
			: `no releases in the metadata mirror ${this.meta.source.describe}`;
	}

	async open(req: BuildRequest, requestHash: string): Promise<BuildEnv> {
		const root = await fs.mkdtemp(path.join(os.tmpdir(), `asu-sim-${requestHash.slice(0, 12)}-`));
		const ib = new SimulatedImageBuilder({
			meta: this.meta,
			version: req.version,
			target: req.target,
			root,
			...this.opts
		});
		const binDir = path.join(root, "bin");
		return {
			binDir,
			filesDir: path.join(root, "asu-files"),
			exec: (argv, o) => ib.exec(argv, o?.signal),
			putFiles: files => putFilesUnder(root, files),
			readFile: rel => readUnder(root, rel),
			copyOut: dest => fs.cp(binDir, dest, { recursive: true }),
			close: () => fs.rm(root, { recursive: true, force: true })
		};
	}
}
