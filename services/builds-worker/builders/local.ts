/**
 * The local builder: unpacked ImageBuilders in ASU_LOCAL_IB_DIR/<version>/<target>-<subtarget>/.
 * An ImageBuilder is not safe for two builds at once (tmp/, build_dir/, staging_dir/ are
 * shared), so each job gets its own copy, removed afterwards. Needs the IB host tools.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { BuildRequest } from "../../shared/contracts/builds";
import { BuildFailure } from "../../shared/asu/queue";
import { putFilesUnder, readUnder } from "./fs-util";
import { run } from "./spawn";
import type { BuildEnv, Builder } from "./types";

export class LocalBuilder implements Builder {
	readonly name = "local" as const;
	readonly simulated = false;
	constructor(private readonly ibRoot: string | null) {}

	async check(): Promise<string | null> {
		if (!this.ibRoot)
			return (
				"ASU_LOCAL_IB_DIR is not set (a directory of unpacked ImageBuilders: " +
				"<dir>/<version>/<target>-<subtarget>/)"
			);
		const ok = await fs.stat(this.ibRoot).then(
			s => s.isDirectory(),
			() => false
		);
		if (!ok) return `ASU_LOCAL_IB_DIR ${this.ibRoot} is not a directory`;
		const make = await run(["make", "--version"]);
		return make.code === 0 ? null : "make is not installed on this node";
	}

	async open(req: BuildRequest, requestHash: string): Promise<BuildEnv> {
		const src = path.join(this.ibRoot ?? "", req.version, req.target.replace("/", "-"));
		if (
			!(await fs.stat(src).then(
				s => s.isDirectory(),
				() => false
			))
		) {
			throw new BuildFailure(
				`Error: Image not found: ${src}. If this version was just released, please try again in a ` +
					`few hours as it may take some time to become fully available.`
			);
		}
		const root = await fs.mkdtemp(path.join(os.tmpdir(), `asu-ib-${requestHash.slice(0, 12)}-`));
		await fs.cp(src, root, { recursive: true, verbatimSymlinks: true });
		const binDir = path.join(root, "asu-bin", requestHash);
		return {
			binDir,
			filesDir: path.join(root, "asu-files"),
			exec: (argv, o) => run(argv, { cwd: root, signal: o?.signal }),
			putFiles: files => putFilesUnder(root, files),
			readFile: rel => readUnder(root, rel),
			copyOut: dest => fs.cp(binDir, dest, { recursive: true }),
			close: () => fs.rm(root, { recursive: true, force: true })
		};
	}
}
