/**
 * Compiles the server (moleculer.config.ts, bin/, services/, mixins/) to JavaScript in dist/,
 * file by file, when a source is newer than the last compile: `npm start` runs `prestart`
 * (this) and then node on dist/, so production runs compiled JavaScript without a run-time
 * TypeScript loader and without a second set-up command.
 *
 * esbuild (installed with tsx, a runtime dependency) only transpiles, in about a second; the
 * type check is `npm run typecheck` (and the CI), not something every start should wait for.
 * Plain JavaScript on purpose: it runs before anything is compiled.
 *
 *   node scripts/compile.mjs [--force]
 */
/* global process, console */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "dist");
const STAMP = path.join(OUT, ".compiled");
const SOURCES = ["moleculer.config.ts", "bin", "services", "mixins"];
/** Files the compiled code reads next to itself (path.join(__dirname, …)). */
const ASSETS = ["services/manager/usb.ids.gz"];
/** Sources that are not server code: the dashboard's browser sources have their own build. */
const SKIP = [
	path.join("services", "gateway", "dashboard", "src"),
	path.join("services", "gateway", "dashboard", "dist")
];

function walk(rel, out) {
	const abs = path.join(ROOT, rel);
	const st = fs.statSync(abs);
	if (st.isDirectory()) {
		if (SKIP.includes(rel)) return out;
		for (const name of fs.readdirSync(abs)) walk(path.join(rel, name), out);
	} else if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) out.push({ rel, mtimeMs: st.mtimeMs });
	return out;
}

const files = SOURCES.flatMap(s => walk(s, []));
const assets = ASSETS.map(rel => ({ rel, mtimeMs: fs.statSync(path.join(ROOT, rel)).mtimeMs }));
const newest = Math.max(
	...files.map(f => f.mtimeMs),
	...assets.map(a => a.mtimeMs),
	fs.statSync(path.join(ROOT, "package.json")).mtimeMs,
	fs.statSync(fileURLToPath(import.meta.url)).mtimeMs
);
const stampMs = fs.existsSync(STAMP) ? fs.statSync(STAMP).mtimeMs : 0;
// Compiled files of sources that were deleted or renamed would still be loaded by the runner's glob.
const expected = new Set(files.map(f => f.rel.replace(/\.ts$/, ".js")));

if (
	!process.argv.includes("--force") &&
	stampMs >= newest &&
	files.every(f => fs.existsSync(path.join(OUT, f.rel.replace(/\.ts$/, ".js"))))
) {
	process.exit(0);
}

const t0 = Date.now();
const esbuild = createRequire(path.join(ROOT, "node_modules/tsx/package.json"))("esbuild");
await esbuild.build({
	absWorkingDir: ROOT,
	entryPoints: files.map(f => f.rel),
	outdir: OUT,
	outbase: ".",
	bundle: false,
	platform: "node",
	format: "cjs",
	target: "node20",
	sourcemap: true,
	logLevel: "warning"
});
for (const a of assets) {
	fs.mkdirSync(path.dirname(path.join(OUT, a.rel)), { recursive: true });
	fs.copyFileSync(path.join(ROOT, a.rel), path.join(OUT, a.rel));
}
let removed = 0;
for (const dir of SOURCES.filter(s => !s.endsWith(".ts"))) {
	const walkOut = rel => {
		const abs = path.join(OUT, rel);
		if (!fs.existsSync(abs)) return;
		for (const name of fs.readdirSync(abs)) {
			const r = path.join(rel, name);
			if (fs.statSync(path.join(OUT, r)).isDirectory()) walkOut(r);
			else if (r.endsWith(".js") && !expected.has(r)) {
				fs.rmSync(path.join(OUT, r));
				fs.rmSync(path.join(OUT, `${r}.map`), { force: true });
				removed++;
			}
		}
	};
	walkOut(dir);
}
fs.writeFileSync(STAMP, `${new Date().toISOString()}\n`);
console.log(
	`compiled ${files.length} files to dist/ in ${Date.now() - t0} ms` +
		(removed ? ` (${removed} stale files removed)` : "")
);
