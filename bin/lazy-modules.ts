/**
 * Modules a node loads only when it uses them. Imported first by the runner, before Moleculer.
 *
 * Moleculer 0.14 requires node-fetch when it loads, for its Datadog logger and reporter and its
 * Zipkin, Datadog and New Relic trace exporters; none runs unless configured. node-fetch 2 brings
 * whatwg-url and tr46's Unicode table: about 11 MB resident on every node, the largest single
 * cost of an edge node (docs/performance.md, "The edge node"). Those modules get a stand-in
 * that loads the real node-fetch at its first call, so a node that sends nothing to such an
 * exporter never loads it, and one that does gets the real library.
 */
import Module from "node:module";
import path from "node:path";

type Fetch = (...args: unknown[]) => unknown;

/** Puts a stand-in for `request` (as `from` resolves it) into the require cache; the real module loads on first use. */
export function deferModule(request: string, from: string): void {
	const file = require.resolve(request, { paths: [from] });
	if (require.cache[file]) return;
	let real: Fetch | null = null;
	const standIn: Fetch = (...args) => {
		if (!real) {
			delete require.cache[file];
			// eslint-disable-next-line @typescript-eslint/no-require-imports -- loading on demand is the point
			real = require(file) as Fetch;
		}
		return real(...args);
	};
	const mod = new Module(file);
	mod.filename = file;
	mod.loaded = true;
	mod.exports = Object.assign(standIn, { default: standIn });
	require.cache[file] = mod;
}

deferModule("node-fetch", path.dirname(require.resolve("moleculer")));
