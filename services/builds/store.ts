/** /store/<hash>/<file>: built images, with their exact size; nothing outside the store. */
import fs from "node:fs";
import path from "node:path";

export async function storeFile(storeDir: string, rel: string): Promise<{ path: string; size: number } | null> {
	const root = path.resolve(storeDir);
	const p = path.resolve(root, "." + path.posix.normalize("/" + rel));
	if (!p.startsWith(root + path.sep)) return null;
	const st = await fs.promises.stat(p).catch(() => null);
	return st?.isFile() ? { path: p, size: st.size } : null;
}
