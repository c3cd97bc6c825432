/**
 * The podman builder: upstream's container flow with the official ImageBuilder images
 * (ghcr.io/openwrt/imagebuilder:<target>-<subtarget>-<tag>). One container per job, made
 * to sleep for the job timeout and driven with `podman exec`; all capabilities dropped, no
 * new privileges, a network that cannot reach Redis, the build directory on a tmpfs,
 * removed in any case when the job ends. Uses the podman CLI.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { branchOf, BRANCHES } from "../../shared/asu/metadata";
import { BuildFailure } from "../../shared/asu/queue";
import type { BuildRequest } from "../../shared/contracts/builds";
import { putFilesUnder } from "./fs-util";
import { run } from "./spawn";
import type { BuildEnv, Builder } from "./types";

/** get_container_version_tag: v<release>, master for SNAPSHOT, openwrt-<branch> for branch snapshots. */
export function containerTag(version: string): string {
	if (/^\d+\.\d+\.\d+(-rc\d+)?$/.test(version)) return `v${version}`;
	if (version === "SNAPSHOT") return "master";
	return `openwrt-${version.replace(/-SNAPSHOT$/, "")}`;
}

export class PodmanBuilder implements Builder {
	readonly name = "podman" as const;
	readonly simulated = false;
	constructor(
		private readonly o: { image: string; network: string; timeoutS: number; podman?: string; url?: string | null }
	) {}

	/**
	 * The podman command; with ASU_PODMAN_URL it drives a podman service over its socket (the worker container needs no
	 * privileges then).
	 */
	private get bin(): string[] {
		return [this.o.podman ?? "podman", ...(this.o.url ? ["--url", this.o.url] : [])];
	}

	async check(): Promise<string | null> {
		const r = await run([...this.bin, "version", "--format", "{{.Client.Version}}"]);
		if (r.code !== 0)
			return (
				`podman is not available on this node (${(r.stderr.trim() || "not found").split("\n")[0]}): ` +
				`install podman or choose ASU_BUILDER=local|simulated`
			);
		return null;
	}

	async open(req: BuildRequest, requestHash: string, signal: AbortSignal): Promise<BuildEnv> {
		const podman = this.bin;
		const image = `${this.o.image}:${req.target.replace("/", "-")}-${containerTag(req.version)}`;
		const pull = await run([...podman, "pull", "--quiet", image], { signal });
		if (pull.code !== 0) {
			throw new BuildFailure(
				`Error: Image not found: ${image}. If this version was just released, please try again in ` +
					`a few hours as it may take some time to become fully available.`,
				pull.stdout,
				pull.stderr
			);
		}
		const snapshot = (version: string) => version.toLowerCase().endsWith("snapshot");
		const envArgs = snapshot(req.version)
			? [
					"--env",
					`TARGET=${req.target}`,
					"--env",
					`VERSION_PATH=${(BRANCHES[branchOf(req.version)]?.path ?? "").replace("{version}", req.version)}`
				]
			: [];
		const created = await run(
			[
				...podman,
				"create",
				"--cap-drop",
				"all",
				"--security-opt",
				"no-new-privileges",
				"--network",
				this.o.network,
				"--tmpfs",
				`/builder/${requestHash}`,
				"--image-volume",
				"ignore",
				...envArgs,
				image,
				"sleep",
				String(this.o.timeoutS)
			],
			{ signal }
		);
		if (created.code !== 0)
			throw new BuildFailure(
				`Error: Could not set up ImageBuilder (returncode=${created.code})`,
				created.stdout,
				created.stderr
			);
		const id = created.stdout.trim();
		const remove = () => run([...podman, "rm", "--force", "--volumes", id]).then(() => undefined);
		const started = await run([...podman, "start", id], { signal });
		if (started.code !== 0) {
			await remove();
			throw new BuildFailure(
				`Error: Could not set up ImageBuilder (returncode=${started.code})`,
				started.stdout,
				started.stderr
			);
		}
		const exec = (argv: string[], o?: { signal?: AbortSignal }) =>
			run([...podman, "exec", "--user", "buildbot", "--workdir", "/builder", id, ...argv], { signal: o?.signal });
		if (snapshot(req.version)) {
			const setup = await exec(["sh", "setup.sh"], { signal });
			if (setup.code !== 0) {
				await remove();
				throw new BuildFailure(
					`Error: Could not set up ImageBuilder (returncode=${setup.code})`,
					setup.stdout,
					setup.stderr
				);
			}
		}
		return {
			binDir: `/builder/${requestHash}`,
			filesDir: "/builder/asu-files",
			exec,
			async putFiles(files) {
				const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "asu-put-"));
				try {
					await putFilesUnder(tmp, files);
					const r = await run([...podman, "cp", `${tmp}/.`, `${id}:/builder/`]);
					if (r.code !== 0)
						throw new BuildFailure(
							"Error: Could not set up ImageBuilder (copying files failed)",
							r.stdout,
							r.stderr
						);
				} finally {
					await fs.rm(tmp, { recursive: true, force: true });
				}
			},
			async readFile(rel) {
				const r = await exec(["cat", rel]);
				return r.code === 0 ? r.stdout : null;
			},
			async copyOut(dest) {
				await fs.mkdir(path.dirname(dest), { recursive: true });
				const r = await run([...podman, "cp", `${id}:/builder/${requestHash}`, dest]);
				if (r.code !== 0)
					throw new BuildFailure(
						"Error: copying the images out of the build container failed",
						r.stdout,
						r.stderr
					);
			},
			close: remove
		};
	}
}
