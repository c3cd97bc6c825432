/**
 * Administration commands that work without a running node (a lost admin password):
 *
 *   npm run admin -- reset-password <email>
 *
 * Uses the node's own database: DATABASE_URL, or the embedded PGlite in DATA_DIR (the node must
 * be stopped: one process per DATA_DIR). Prints the new password once; every session of that
 * user ends (running gateways refuse its old tokens within a minute, at once after a restart).
 */
import fs from "node:fs";
import { migrate } from "../mixins/db/migrate";
import { openDatabase } from "../mixins/db/database";
import { describeStartupError, readEnv } from "../services/shared/env";
import { lockDataDir, restrictTree, unlockDataDir } from "../services/shared/files";
import { existingPasswordFile } from "../services/shared/first-start";
import { normaliseEmail } from "../services/signing/passwords";
import { resetPasswordByEmail } from "../services/signing/users";

const USAGE = "usage: npm run admin -- reset-password <email>";

async function main(argv: string[]): Promise<number> {
	const [command, arg] = argv;
	if (command !== "reset-password" || !arg) {
		console.error(USAGE);
		return 2;
	}
	process.umask(0o077);
	const env = readEnv();
	// PGlite has one writer: a node running on this DATA_DIR must be stopped first.
	if (!env.databaseUrl) lockDataDir(env.dataDir);
	const db = await openDatabase({
		databaseUrl: env.databaseUrl,
		dataDir: env.dataDir,
		connectTimeoutMs: env.dbConnectTimeoutMs
	});
	try {
		await migrate(db);
		const email = normaliseEmail(arg);
		const done = await resetPasswordByEmail(db, email);
		if (!done) {
			console.error(`fleetmesh admin: no user ${email} in ${db.target}`);
			return 1;
		}
		// A first-start password file of this user now holds a dead password: remove it.
		const stale = existingPasswordFile(env.dataDir);
		if (stale && fs.readFileSync(stale, "utf8").includes(`email: ${done.user.email}\n`))
			fs.rmSync(stale, { force: true });
		console.log(
			`new password for ${done.user.email} (user ` +
				`${done.user.id}${done.user.is_admin ? ", administrator" : ""}): ${done.password}`
		);
		console.log("shown only this once; every session of this user has ended");
		return 0;
	} finally {
		await db.close();
		if (!env.databaseUrl) {
			restrictTree(env.dataDir);
			unlockDataDir(env.dataDir);
		}
	}
}

main(process.argv.slice(2)).then(
	code => process.exit(code),
	err => {
		console.error(describeStartupError(err).replace("cannot start", "admin"));
		process.exit(1);
	}
);
