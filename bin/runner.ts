/**
 * moleculer-runner, with two changes for fleetmesh:
 *  - a start-up failure (bad variable, unreachable database) prints ONE line naming the
 *    variable and exits 1, instead of a stack trace;
 *  - an unhandled promise rejection is logged and counted, not fatal (mixins/process-guard.ts);
 *  - the environment is read by moleculer.config.ts alone: the stock runner would also copy
 *    variables such as TRANSPORTER over the parsed options and undo their validation.
 * Everything else (SERVICES, SERVICEDIR, --mask, --repl, --hot, signals) is the stock runner.
 */
import { Runner } from "moleculer";
import { installProcessGuard } from "../mixins/process-guard";
import { describeStartupError } from "../services/shared/env";

/** The runner as it is: its typings miss that loadConfigFile resolves the config mergeOptions takes. */
interface RunnerInternals {
	loadEnvFile(): void;
	loadConfigFile(): Promise<unknown>;
	mergeOptions(config: unknown): void;
	startBroker(): Promise<unknown>;
	start(args: string[]): Promise<void>;
}
const RunnerBase = Runner as unknown as new () => RunnerInternals;

class FleetRunner extends RunnerBase {
	overwriteFromEnv(obj: unknown) {
		return obj;
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

installProcessGuard();
new FleetRunner().start(process.argv);
