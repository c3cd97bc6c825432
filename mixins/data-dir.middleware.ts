/**
 * DATA_DIR belongs to one process, and only its owner can read it.
 *
 * - created: claims DATA_DIR (a pid lock file); a second process on the same DATA_DIR stops
 *   with one line naming it (PGlite is one writer: two processes would corrupt its files).
 * - started / every minute: DATA_DIR 0700 and every file under it 0600. The runner sets umask
 *   077 so new files are private from their first byte; this repairs what was made before (an
 *   older version, a copied directory) and anything a library created with its own mode.
 * - stopped: releases the lock.
 */
import type { Middleware, ServiceBroker } from "moleculer";
import { lockDataDir, restrictTree, unlockDataDir } from "../services/shared/files";
import type { FleetEnv } from "../services/shared/env";

const REPAIR_INTERVAL_MS = 60_000;

export function DataDirMiddleware(env: FleetEnv): Middleware {
	let timer: NodeJS.Timeout | null = null;
	return {
		name: "DataDir",
		created() {
			lockDataDir(env.dataDir);
			restrictTree(env.dataDir);
		},
		started(broker: ServiceBroker) {
			const changed = restrictTree(env.dataDir);
			if (changed)
				broker.logger.info(`DATA_DIR ${env.dataDir}: made ${changed} files and directories owner-only`);
			timer = setInterval(() => restrictTree(env.dataDir), REPAIR_INTERVAL_MS);
			timer.unref();
		},
		stopped() {
			if (timer) clearInterval(timer);
			restrictTree(env.dataDir);
			unlockDataDir(env.dataDir);
		}
	} as unknown as Middleware;
}
