import net from "node:net";

/**
 * Ports handed out below Linux's ephemeral range (32768–60999 by default). A port the OS picks
 * (`listen(0)`) comes from that range, where every outgoing connection of every process also
 * takes its local port: a port found free there could be taken by a client socket, or by the
 * next file's `listen(0)`, before the server it was meant for binds it (seen as nats-server or
 * `npm start` exiting with "address in use" under a parallel run). Here each vitest worker has
 * its own slice and walks it in turn, so two files running side by side never pick the same
 * port, and a port is not handed out again until the worker has walked its whole slice.
 */
const FIRST = 20_000;
const LAST = 32_000;
const SLICE = 1_000;

let cursor = -1;

function canBind(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const srv = net.createServer();
		srv.unref();
		srv.once("error", () => resolve(false));
		srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
	});
}

/** The OS's pick (outside vitest: bench scripts, or a worker id beyond the slices). */
function osPort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on("error", reject);
		srv.listen(0, "127.0.0.1", () => {
			const { port } = srv.address() as net.AddressInfo;
			srv.close(() => resolve(port));
		});
	});
}

/** A TCP port on 127.0.0.1 that was free a moment ago and that no other test worker will pick. */
export async function freePort(): Promise<number> {
	const worker = Number(process.env.VITEST_POOL_ID);
	const base = FIRST + (worker - 1) * SLICE;
	if (!Number.isInteger(worker) || worker < 1 || base + SLICE > LAST) return osPort();
	// A random start, so a worker's next file (a new process) does not retry the previous file's ports first.
	if (cursor < 0) cursor = Math.floor(Math.random() * SLICE);
	for (let tries = 0; tries < SLICE; tries++) {
		const port = base + (cursor++ % SLICE);
		// Taken (a server of this worker still running, or another service of the machine): next one.
		if (await canBind(port)) return port;
	}
	return osPort();
}
