import fs from "node:fs/promises";
import path from "node:path";

/** Writes files relative to root; a name that leaves root is refused. */
export async function putFilesUnder(root: string, files: Record<string, string | Buffer>): Promise<void> {
	for (const [rel, content] of Object.entries(files)) {
		const p = path.resolve(root, rel);
		if (!p.startsWith(path.resolve(root) + path.sep))
			throw new Error(`refusing to write outside the build directory: ${rel}`);
		await fs.mkdir(path.dirname(p), { recursive: true });
		await fs.writeFile(p, content);
	}
}

export async function readUnder(root: string, rel: string): Promise<string | null> {
	const p = path.resolve(root, rel);
	if (!p.startsWith(path.resolve(root) + path.sep)) return null;
	return fs.readFile(p, "utf8").catch(() => null);
}
