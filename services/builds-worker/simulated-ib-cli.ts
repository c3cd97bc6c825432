/**
 * The simulated ImageBuilder as a command, for an ImageBuilder directory whose Makefile hands
 * its goals to it (how the local builder is tested without a real ImageBuilder):
 *
 *   tsx simulated-ib-cli.ts <info|manifest|image> [VAR=value …]
 *
 * Environment: SIM_IB_VERSION, SIM_IB_TARGET, SIM_IB_MIRROR (metadata mirror directory),
 * SIM_IB_IMAGE_KIB. Works in the current directory (BIN_DIR and FILES relative to it).
 */
import { DirSource, ReleaseMetadata } from "../shared/asu/metadata";
import { ASU_MIRROR_DIR } from "../shared/paths";
import { SimulatedImageBuilder } from "./simulated-ib";
import { errorMessage } from "../shared/error-message";

async function main(): Promise<number> {
	const version = process.env.SIM_IB_VERSION;
	const target = process.env.SIM_IB_TARGET;
	if (!version || !target) {
		process.stderr.write(
			"SIM_IB_VERSION and SIM_IB_TARGET must name the release and target of this ImageBuilder\n"
		);
		return 2;
	}
	const meta = new ReleaseMetadata(new DirSource(process.env.SIM_IB_MIRROR || ASU_MIRROR_DIR));
	const ib = new SimulatedImageBuilder({
		meta,
		version,
		target,
		root: process.cwd(),
		imageKib: Number(process.env.SIM_IB_IMAGE_KIB ?? 64),
		buildMs: 0
	});
	const r = await ib.exec(["make", ...process.argv.slice(2)]);
	process.stdout.write(r.stdout);
	process.stderr.write(r.stderr);
	return r.code;
}

main().then(
	code => process.exit(code),
	err => (process.stderr.write(`${errorMessage(err)}\n`), process.exit(1))
);
