/**
 * DATA_DIR must be a writable directory (embedded databases, keys, the broker's store): checked
 * once at start, so a bad one stops the node with one line instead of failing deep in a driver.
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "./env";

export function checkDataDir(dir: string): void {
	try {
		fs.mkdirSync(dir, { recursive: true });
		const probe = path.join(dir, `.write-test-${process.pid}`);
		fs.writeFileSync(probe, "");
		fs.rmSync(probe);
	} catch (err) {
		const e = err as NodeJS.ErrnoException;
		throw new ConfigError("DATA_DIR", `${dir} is not a writable directory (${e.code ?? e.message})`);
	}
}
