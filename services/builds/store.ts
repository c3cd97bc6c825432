/** /store/<hash>/<file>: built images, with their exact size; nothing outside the store. */
import fs from "node:fs";
import path from "node:path";
import type { BuildQueue } from "../shared/asu/queue";

const HASH_DIR = /^[0-9a-f]{64}$/;

export async function storeFile(storeDir: string, rel: string): Promise<{ path: string; size: number } | null> {
	const root = path.resolve(storeDir);
	const p = path.resolve(root, "." + path.posix.normalize("/" + rel));
	if (!p.startsWith(root + path.sep)) return null;
	const st = await fs.promises.stat(p).catch(() => null);
	return st?.isFile() ? { path: p, size: st.size } : null;
}

/**
 * Removes store directories whose job is gone (expired or never known) and that are older than
 * `graceMs` (a build being copied in right now has no finished job yet). Returns how many.
 */
export async function sweepStore(
	storeDir: string,
	queue: Pick<BuildQueue, "get">,
	graceMs = 3600_000,
	now = Date.now()
): Promise<number> {
	const entries = await fs.promises.readdir(storeDir, { withFileTypes: true }).catch(() => []);
	let removed = 0;
	for (const e of entries) {
		if (!e.isDirectory() || !HASH_DIR.test(e.name)) continue;
		const dir = path.join(storeDir, e.name);
		const st = await fs.promises.stat(dir).catch(() => null);
		if (!st || now - st.mtimeMs < graceMs) continue;
		if (await queue.get(e.name)) continue;
		await fs.promises.rm(dir, { recursive: true, force: true });
		removed++;
	}
	return removed;
}
