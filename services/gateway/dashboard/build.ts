/**
 * Builds the dashboard (src/ → dist/, git-ignored) with esbuild, only when the sources changed.
 *
 * A build step, never run by a gateway: `npm run build` and the Dockerfile build it (after the
 * dashboard's own type check, tsconfig.json here), `npm start` runs it first (prestart, a no-op
 * when up to date), and the test setup builds it once per run. A content hash of the sources is
 * kept in dist/.build-stamp; files are written under temporary names and renamed, so a gateway
 * serving dist/ meanwhile never sends a half-written bundle.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../../shared/paths";
import { DASHBOARD_DIST, DASHBOARD_SRC } from "./paths";

export { DASHBOARD_DIR, DASHBOARD_DIST, DASHBOARD_SRC } from "./paths";
const STAMP = path.join(DASHBOARD_DIST, ".build-stamp");

function listFiles(dir: string): string[] {
	return fs
		.readdirSync(dir, { withFileTypes: true })
		.flatMap(e => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]))
		.sort();
}

/** Hash of every source file and of the versions of the bundled libraries. */
export function sourceHash(): string {
	const h = crypto.createHash("sha256");
	for (const f of listFiles(DASHBOARD_SRC)) {
		h.update(path.relative(DASHBOARD_SRC, f));
		h.update(fs.readFileSync(f));
	}
	for (const pkg of ["uplot", "socket.io-client", "esbuild", "topojson-client", "world-atlas"]) {
		try {
			h.update(
				pkg +
					JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "node_modules", pkg, "package.json"), "utf8"))
						.version
			);
		} catch {
			h.update(pkg + "?");
		}
	}
	return h.digest("hex");
}

export function isBuilt(hash = sourceHash()): boolean {
	try {
		return fs.readFileSync(STAMP, "utf8") === hash && fs.existsSync(path.join(DASHBOARD_DIST, "index.html"));
	} catch {
		return false;
	}
}

function writeAtomic(file: string, contents: string | Uint8Array): void {
	fs.mkdirSync(path.dirname(file), { recursive: true });
	const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(3).toString("hex")}`;
	fs.writeFileSync(tmp, contents);
	fs.renameSync(tmp, file);
}

export interface BuildResult {
	built: boolean;
	ms: number;
	files: string[];
}

export async function buildDashboard(opts: { force?: boolean } = {}): Promise<BuildResult> {
	const started = Date.now();
	const hash = sourceHash();
	if (!opts.force && isBuilt(hash)) return { built: false, ms: Date.now() - started, files: [] };
	// esbuild is a build tool: loaded only when a build is needed.
	const esbuild = await import("esbuild");
	const result = await esbuild.build({
		entryPoints: { app: path.join(DASHBOARD_SRC, "main.ts") },
		bundle: true,
		format: "iife",
		platform: "browser",
		target: "es2020",
		minify: true,
		sourcemap: false,
		legalComments: "none",
		outdir: DASHBOARD_DIST,
		write: false,
		logLevel: "silent",
		loader: { ".css": "css" }
	});
	const files: string[] = [];
	for (const out of result.outputFiles) {
		writeAtomic(out.path, out.contents);
		files.push(path.relative(DASHBOARD_DIST, out.path));
	}
	for (const asset of ["index.html", "favicon.svg"]) {
		const src = path.join(DASHBOARD_SRC, asset);
		if (fs.existsSync(src)) {
			writeAtomic(path.join(DASHBOARD_DIST, asset), fs.readFileSync(src));
			files.push(asset);
		}
	}
	writeAtomic(STAMP, hash);
	return { built: true, ms: Date.now() - started, files };
}

if (require.main === module) {
	buildDashboard({ force: process.argv.includes("--force") }).then(
		r =>
			console.log(
				r.built
					? `dashboard built in ${r.ms} ms: ${r.files.join(", ")} → ${DASHBOARD_DIST}`
					: "dashboard up to date"
			),
		err => {
			console.error(`dashboard build failed: ${err.message}`);
			process.exit(1);
		}
	);
}
