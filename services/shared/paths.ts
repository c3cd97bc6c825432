/** Project paths that work from the TypeScript sources and from the compiled dist/ alike. */
import fs from "node:fs";
import path from "node:path";

function findRoot(start: string): string {
	let dir = start;
	for (;;) {
		if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "sql"))) return dir;
		const parent = path.dirname(dir);
		if (parent === dir) return process.cwd();
		dir = parent;
	}
}

export const PROJECT_ROOT = findRoot(__dirname);
export const SQL_DIR = path.join(PROJECT_ROOT, "sql");
export const PROFILES_DIR = path.join(PROJECT_ROOT, "profiles");
/** The small release-metadata mirror shipped for the simulated ASU builder. */
export const ASU_MIRROR_DIR = path.join(PROJECT_ROOT, "asu-mirror");
