/**
 * moleculer-runner, with two changes for fleetmesh:
 *  - a start-up failure (bad variable, unreachable database) prints ONE line naming the
 *    variable and exits 1, instead of a stack trace;
 *  - an unhandled promise rejection is logged and counted, not fatal (mixins/process-guard.ts);
 *  - the environment is read by moleculer.config.ts alone: the stock runner would also copy
 *    variables such as TRANSPORTER over the parsed options and undo their validation.
 *  - SERVICES=pipeline selects the three pipeline stage services (bin/service-list.ts);
 * Everything else (SERVICES, SERVICEDIR, --mask, --repl, --hot, signals) is the stock runner.
 */
// First: it decides how some of Moleculer's own dependencies load.
import "./lazy-modules";
import { Runner } from "moleculer";
import { installProcessGuard } from "../mixins/process-guard";
import { describeStartupError, type FleetEnv } from "../services/shared/env";
import { resolveServiceList } from "./service-list";

/** The runner as it is: its typings miss that loadConfigFile resolves the config mergeOptions takes. */
interface RunnerInternals {
	loadEnvFile(): void;
	loadConfigFile(): Promise<unknown>;
	mergeOptions(config: unknown): void;
	startBroker(): Promise<unknown>;
	loadServices(): void;
	start(args: string[]): Promise<void>;
	broker: { options: { fleet?: FleetEnv }; logger: { warn(msg: string): void } };
	flags: { mask?: string };
}
const RunnerBase = Runner as unknown as new () => RunnerInternals;

class FleetRunner extends RunnerBase {
	overwriteFromEnv(obj: unknown) {
		return obj;
	}

	/** SERVICES=pipeline → the three stage services; PIPELINE_STAGES (deprecated) narrows them. */
	override loadServices() {
		const env = this.broker.options.fleet;
		if (env) {
			const { services, warnings } = resolveServiceList(
				env.services,
				env.pipelineStages,
				this.flags.mask ?? "**/*.service.js"
			);
			for (const w of warnings) this.broker.logger.warn(w);
			if (services != null) process.env.SERVICES = services;
		}
		return super.loadServices();
	}

	_run() {
		return Promise.resolve()
			.then(() => this.loadEnvFile())
			.then(() => this.loadConfigFile())
			.then((config: unknown) => this.mergeOptions(config))
			.then(() => this.startBroker())
			.catch((err: unknown) => {
				console.error(describeStartupError(err));
				process.exit(1);
			});
	}
}

// Files a node writes (PGlite, keys, artifacts) are its own: nobody else on the host reads them.
process.umask(0o077);
installProcessGuard();
new FleetRunner().start(process.argv);
