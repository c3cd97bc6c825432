/**
 * What a newcomer needs after `npm start`, in one short block at the end of the start-up output:
 * the dashboard URL, the administrator's e-mail and (at the very first start) the generated
 * password, where that password is kept, and what to try next.
 *
 * Services of this process leave their notes here (module state: it never leaves the process, so
 * the password does not travel over the mesh); the broker's `started` hook (moleculer.config.ts)
 * prints the block once every local service has started, a moment after the device burst.
 */
import fs from "node:fs";
import path from "node:path";

export interface StartNotes {
	dashboardUrl?: string;
	apiUrl?: string;
	adminEmail?: string;
	/** Only at the first start, when the password was generated. */
	adminPassword?: string;
	/** DATA_DIR/admin-password.txt, when a generated password was written there. */
	passwordFile?: string;
}

const notes: StartNotes = {};

export function addStartNotes(n: StartNotes): void {
	Object.assign(notes, n);
}

export function startNotes(): StartNotes {
	return { ...notes };
}

export const ADMIN_PASSWORD_FILE = "admin-password.txt";

/**
 * Keeps a generated administrator password in DATA_DIR/admin-password.txt, readable by the owner
 * only (0600), so it is not lost with the terminal's scrollback. Delete the file after changing
 * the password. Returns the file's path, or null when it could not be written (the log says so).
 */
export function writeAdminPasswordFile(dataDir: string, email: string, password: string): string | null {
	const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
	try {
		fs.mkdirSync(dataDir, { recursive: true });
		fs.writeFileSync(
			file,
			`# fleetmesh: the administrator created at the first start.\n# Sign in, change the password ` +
				`(Account), then delete this file.\nemail: ${email}\npassword: ${password}\n`,
			{ mode: 0o600 }
		);
		// writeFileSync's mode applies only to a new file; an old one keeps its permissions otherwise.
		fs.chmodSync(file, 0o600);
		return file;
	} catch {
		return null;
	}
}

/** An existing password file from an earlier first start (its path), or null. */
export function existingPasswordFile(dataDir: string): string | null {
	const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
	return fs.existsSync(file) ? file : null;
}

/** The block, as lines of text (a box drawn with plain characters so every terminal shows it). */
export function startBanner(n: StartNotes): string[] | null {
	const lines: string[] = [];
	if (n.dashboardUrl) lines.push(`Dashboard:  ${n.dashboardUrl}`);
	if (n.adminEmail) lines.push(`Sign in as: ${n.adminEmail}`);
	if (n.adminPassword) lines.push(`Password:   ${n.adminPassword}`);
	if (n.passwordFile)
		lines.push(
			n.adminPassword
				? `            (also kept in ${n.passwordFile}, mode 0600)`
				: `Password:   in ${n.passwordFile}`
		);
	if (!lines.length) return null;
	if (n.apiUrl) lines.push("", `API:        ${n.apiUrl}  (OpenAPI: ${n.apiUrl}/openapi.json)`);
	if (n.dashboardUrl)
		lines.push(
			"",
			"Next: open the dashboard; with SIMULATE=1 (the default) virtual devices",
			"stream within seconds. Change the password under Account."
		);
	const width = Math.max(...lines.map(l => l.length));
	const bar = "+" + "-".repeat(width + 2) + "+";
	return [bar, ...lines.map(l => `| ${l.padEnd(width)} |`), bar];
}

/** The same summary as one log line (JSON logs: no box, and the fields a reader greps for). */
export function startSummaryLine(n: StartNotes): string | null {
	const parts: string[] = [];
	if (n.dashboardUrl) parts.push(`dashboard ${n.dashboardUrl}`);
	if (n.adminEmail && n.adminPassword)
		parts.push(
			`created administrator ${n.adminEmail} with the generated password ` +
				`${n.adminPassword}${n.passwordFile ? ` (kept in ${n.passwordFile}, mode 0600)` : ""}`
		);
	else if (n.adminEmail)
		parts.push(`sign in as ${n.adminEmail}${n.passwordFile ? ` (password: see ${n.passwordFile})` : ""}`);
	return parts.length ? `start-up summary: ${parts.join("; ")}` : null;
}

/** The block waits for the output to be quiet this long (the first burst of device lines)… */
export const BANNER_QUIET_MS = 1000;
/** …but not longer than this after the broker started. */
export const BANNER_MAX_WAIT_MS = 8000;

/**
 * Prints the start-up block once, when the output has been quiet for BANNER_QUIET_MS after the
 * broker started (at most BANNER_MAX_WAIT_MS), so it is the last thing on the screen and not
 * scrolled away by the device lines: a box on a terminal (LOG_FORMAT=short), one info line with
 * JSON logs. The password is dropped from the notes once printed, so nothing prints it twice.
 */
export function printStartBanner(
	logger: { info(msg: string): void },
	jsonLogs: boolean,
	out: NodeJS.WriteStream = process.stdout
): void {
	const started = Date.now();
	let last = Date.now();
	const write = out.write;
	// Watch the output for a pause (only the time of the last write is kept), then restore write.
	out.write = function (this: NodeJS.WriteStream, ...args: Parameters<typeof write>) {
		last = Date.now();
		return write.apply(this, args);
	} as typeof write;
	const timer = setInterval(() => {
		const now = Date.now();
		if (now - last < BANNER_QUIET_MS && now - started < BANNER_MAX_WAIT_MS) return;
		clearInterval(timer);
		out.write = write;
		const n = startNotes();
		if (jsonLogs) {
			const line = startSummaryLine(n);
			if (line) logger.info(line);
		} else {
			const box = startBanner(n);
			if (box) out.write(`\n${box.join("\n")}\n\n`);
		}
		delete notes.adminPassword;
	}, 200);
	timer.unref();
}
