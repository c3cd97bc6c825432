/**
 * Files at rest in DATA_DIR: the directory is 0700 and every file in it 0600 (keys, the CA,
 * PGlite's tables and WAL with the password hashes), and one process owns a DATA_DIR at a time.
 */
import fs from "node:fs";
import path from "node:path";

/** Writes a file only its owner can read: atomically (temp file + rename), or failing with EEXIST when `exclusive`. */
export function writePrivateFile(file: string, data: string | Uint8Array, opts: { exclusive?: boolean } = {}): void {
	fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
	if (opts.exclusive) {
		fs.writeFileSync(file, data, { mode: 0o600, flag: "wx" });
		return;
	}
	const tmp = `${file}.${process.pid}.tmp`;
	fs.writeFileSync(tmp, data, { mode: 0o600 });
	fs.renameSync(tmp, file);
}

/**
 * Makes `dir` 0700 and everything below it owner-only (files 0600, directories 0700). Returns how many modes changed.
 */
export function restrictTree(dir: string): number {
	let changed = 0;
	const fix = (p: string, want: number) => {
		try {
			const st = fs.lstatSync(p);
			if (st.isSymbolicLink()) return;
			if ((st.mode & 0o777) !== want && (st.mode & 0o077) !== 0) {
				fs.chmodSync(p, want);
				changed++;
			}
			if (st.isDirectory())
				for (const e of fs.readdirSync(p))
					fix(path.join(p, e), fs.lstatSync(path.join(p, e)).isDirectory() ? 0o700 : 0o600);
		} catch {
			// Gone meanwhile (a WAL segment recycled): nothing to protect.
		}
	};
	fix(dir, 0o700);
	return changed;
}

const LOCK_FILE = ".fleetmesh.lock";

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return (err as NodeJS.ErrnoException).code === "EPERM";
	}
}

/**
 * Claims DATA_DIR for this process (a pid file). Throws one line naming DATA_DIR when another
 * live process holds it; a lock left by a process that died is taken over. The same process
 * may claim again (several brokers of one test process).
 */
export function lockDataDir(dir: string): void {
	fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
	const file = path.join(dir, LOCK_FILE);
	for (let attempt = 0; attempt < 3; attempt++) {
		try {
			fs.writeFileSync(file, `${process.pid}\n`, { mode: 0o600, flag: "wx" });
			return;
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
		}
		const pid = Number(fs.readFileSync(file, "utf8").trim());
		if (pid === process.pid) return;
		if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
			throw new DataDirInUseError(dir, pid);
		}
		// Stale: its process is gone. Remove and try again (another starter may win the race).
		fs.rmSync(file, { force: true });
	}
	throw new DataDirInUseError(dir, NaN);
}

export function unlockDataDir(dir: string): void {
	const file = path.join(dir, LOCK_FILE);
	try {
		if (Number(fs.readFileSync(file, "utf8").trim()) === process.pid) fs.rmSync(file, { force: true });
	} catch {
		// Not ours or already gone.
	}
}

export class DataDirInUseError extends Error {
	constructor(
		readonly dir: string,
		readonly pid: number
	) {
		super(
			`DATA_DIR ${dir} is in use by another fleetmesh ` +
				`process${Number.isNaN(pid) ? "" : ` (pid ${pid})`}: one process per DATA_DIR (give this node ` +
				`its own DATA_DIR)`
		);
		this.name = "DataDirInUseError";
		this.stack = `${this.name}: ${this.message}`;
	}
}
