/**
 * bench/devices: the device chain under load. Prints figures; asserts nothing.
 *
 *   npx tsx bench/devices/index.ts            (needs NATS on 127.0.0.1:4222 and socat)
 *   DEVICES=20 RATE=100 SECONDS=10 npx tsx bench/devices/index.ts
 *   EDGE_NODE_ARGS= npm run bench:devices   (without the V8 flags of docker/compose.edge.yml)
 *   SERIAL_READ_COALESCE_MS=0 npm run bench:devices   (the edge node's serial read window; default its own)
 *
 * An edge node process runs detector + processor (as `npm start` runs it, SERVICES given);
 * this process runs the manager (embedded PGlite), a consumer of telemetry.readings and the
 * "firmware" of DEVICES serial boards writing RATE lines/s each to real PTYs (socat).
 * Figures:
 *   - plug-to-first-reading latency (PTY appears → first reading of it on the channel);
 *   - readings/s through the one processor, and the edge node's CPU (% of one core);
 *   - the edge node's resident memory with DEVICES devices open.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { buildBrokerOptions } from "../../moleculer.config";
import ManagerService from "../../services/manager/manager.service";
import { readingsOf, type Reading } from "../../services/shared/contracts";
import { readEnv } from "../../services/shared/env";
import { createPtyPair, type PtyPair } from "../../services/simulator/pty";
import { execFileSync } from "node:child_process";
import YAML from "yaml";
import { startCompiledNode, startNode, ROOT } from "../../test/helpers/node-process";

const DEVICES = Number(process.env.DEVICES ?? 20);
const RATE = Number(process.env.RATE ?? 100);
const SECONDS = Number(process.env.SECONDS ?? 10);
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

const namespace = `bench-devices-${process.pid}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetmesh-bench-devices-"));
const LINE = "temperature:21.50,humidity:40.1,light:300\n";

function cpuTicks(pid: number): number {
	const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
	return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function rssMb(pid: number): number {
	const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
	return m ? Number(m[1]) / 1024 : NaN;
}
const TICK_HZ = 100; // USER_HZ on Linux

/**
 * The node flags an edge node runs with: NODE_OPTIONS of docker/compose.edge.yml (one source),
 * or EDGE_NODE_ARGS (EDGE_NODE_ARGS= with nothing measures without them).
 */
function edgeNodeArgs(): string[] {
	const raw =
		process.env.EDGE_NODE_ARGS ??
		(YAML.parse(fs.readFileSync(path.join(ROOT, "docker/compose.edge.yml"), "utf8"), { merge: true })["x-edge"]
			.environment.NODE_OPTIONS as string);
	return raw.split(" ").filter(Boolean);
}

async function main() {
	// As `npm start` runs it (compiled dist/); EDGE_RUNTIME=tsx runs the TypeScript sources.
	const tsx = process.env.EDGE_RUNTIME === "tsx";
	if (!tsx) execFileSync(process.execPath, [path.join(ROOT, "scripts/compile.mjs")], { stdio: "inherit" });
	const service = (name: string) =>
		tsx
			? path.join(ROOT, `services/${name}/${name}.service.ts`)
			: path.join(ROOT, `dist/services/${name}/${name}.service.js`);
	const edge = (tsx ? startNode : startCompiledNode)(
		{
			NAMESPACE: namespace,
			NODEID: "bench-edge",
			TRANSPORTER: NATS,
			SERVICEDIR: ROOT,
			SERVICES: [service("detector"), service("processor")].join(","),
			DETECTOR_SOURCE: "simulated",
			SIMULATE: "0",
			DATA_DIR: path.join(dir, "edge"),
			PORT: "0",
			LOGLEVEL: "warn",
			METRICS: "0",
			// The serial read's coalescing window (default: the node's own, see docs/devices.md).
			...(process.env.SERIAL_READ_COALESCE_MS != null
				? { SERIAL_READ_COALESCE_MS: process.env.SERIAL_READ_COALESCE_MS }
				: {})
		},
		edgeNodeArgs()
	);
	const firstSeen = new Map<number, number>();
	let readings = 0;
	const consumer = {
		name: "bench-consumer",
		channels: {
			"telemetry.readings": {
				group: "bench",
				handler(p: unknown) {
					const list = readingsOf(p) as Reading[];
					readings += list.length;
					for (const r of list) if (!firstSeen.has(r.deviceId)) firstSeen.set(r.deviceId, Date.now());
				}
			}
		}
	} as ServiceSchema;
	const broker = new ServiceBroker(
		buildBrokerOptions(
			readEnv({
				NAMESPACE: namespace,
				NODEID: "bench-cloud",
				TRANSPORTER: NATS,
				DATA_DIR: path.join(dir, "cloud"),
				LOGLEVEL: "warn",
				PORT: "0",
				METRICS: "0"
			})
		)
	);
	broker.createService(ManagerService);
	broker.createService(consumer);
	await broker.start();
	await broker.waitForServices([{ name: "detector" }, { name: "processor" }], 60_000);
	// Discovery is two-way: wait until the edge node also knows the manager, or its first
	// device.attached has no listener yet (the manager's start-up sync would pick it up ~1 s later).
	for (let i = 0; i < 600; i++) {
		const seen = await broker.call<Array<{ name: string }>, any>(
			"$node.services",
			{ onlyAvailable: true },
			{ nodeID: "bench-edge" }
		);
		if (seen.some(s => s.name === "manager")) break;
		await new Promise(r => setTimeout(r, 50));
	}

	const ptys: PtyPair[] = [];
	const fds: number[] = [];
	const latencies: number[] = [];
	let writeSkipped = 0;
	const writers: NodeJS.Timeout[] = [];
	for (let i = 0; i < DEVICES; i++) {
		const serial = `BENCH${String(i).padStart(4, "0")}`;
		const link = path.join(dir, "serial/by-id", `usb-Arduino__www.arduino.cc__0043_${serial}-if00`);
		const t0 = Date.now();
		const pty = await createPtyPair(link, path.join(dir, `host-${i}`));
		const fd = fs.openSync(pty.hostPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
		ptys.push(pty);
		fds.push(fd);
		// Firmware: RATE lines per second by the clock (timer drift does not lower the offered rate), written every 10
		// ms.
		const started = Date.now();
		let written = 0;
		writers.push(
			setInterval(() => {
				const due = Math.floor(((Date.now() - started) * RATE) / 1000) - written;
				let text = "";
				for (let k = 0; k < due; k++) text += LINE;
				written += Math.max(0, due);
				if (!text) return;
				try {
					fs.writeSync(fd, text);
				} catch {
					writeSkipped++; // PTY full: nobody reads yet
				}
			}, 10)
		);
		await broker.call(
			"detector.simulate",
			{
				action: "add",
				path: pty.deviceNode,
				subsystem: "tty",
				properties: {
					ID_VENDOR_ID: "2341",
					ID_MODEL_ID: "0043",
					ID_VENDOR: "Arduino__www.arduino.cc_",
					ID_MODEL: "0043",
					ID_SERIAL_SHORT: serial,
					ID_PATH: `bench-usb-0:${i}:1.0`,
					DEVLINKS: link
				}
			},
			{ nodeID: "bench-edge" }
		);
		// Wait for this device's first reading before plugging the next one.
		const deadline = Date.now() + 10_000;
		let id: number | undefined;
		while (Date.now() < deadline) {
			const devs = (await broker.call<{ items: any[] }, any>("manager.list", { limit: 1000 })).items;
			id = devs.find(d => d.serial === serial)?.id;
			if (id != null && firstSeen.has(id)) break;
			await new Promise(r => setTimeout(r, 5));
		}
		if (id == null || !firstSeen.has(id))
			throw new Error(`device ${serial} gave no reading within 10 s\n${edge.output().slice(-2000)}`);
		latencies.push(firstSeen.get(id)! - t0);
	}

	// Steady state: readings/s and the edge node's CPU over SECONDS.
	await new Promise(r => setTimeout(r, 2000));
	const pid = edge.child.pid!;
	const c0 = cpuTicks(pid);
	const r0 = readings;
	const t0 = Date.now();
	await new Promise(r => setTimeout(r, SECONDS * 1000));
	const elapsed = (Date.now() - t0) / 1000;
	const cpu = ((cpuTicks(pid) - c0) / TICK_HZ / elapsed) * 100;
	const rate = (readings - r0) / elapsed;
	const rss = rssMb(pid);
	const list = await broker.call<any, any>("processor.list", {}, { nodeID: "bench-edge" });
	const bad = list.devices.reduce((s: number, d: any) => s + d.stats.badLines + d.stats.overlongLines, 0);

	// The first plug is cold (JIT, the channel's first stream, first queries): reported apart.
	const sorted = latencies.slice(1).sort((a, b) => a - b);
	console.log(
		`bench/devices: ${DEVICES} serial devices × ${RATE} lines/s (3 values/line), ${SECONDS} s, NATS ` +
			`JetStream channel`
	);
	console.log(
		`  plug-to-first-reading: first (cold) ${latencies[0]} ms; next ${sorted.length}: median ` +
			`${sorted[Math.floor(sorted.length / 2)]} ms, min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms ` +
			`(incl. ${readEnv({}).detectorDebounceMs} ms debounce, manager on another node)`
	);
	console.log(
		`  throughput: ${Math.round(rate)} readings/s = ${Math.round(rate / 3)} lines/s (offered ` +
			`${DEVICES * RATE} lines/s); bad lines ${bad}; firmware writes skipped ${writeSkipped}`
	);
	console.log(`  edge node (detector + processor) CPU: ${cpu.toFixed(1)} % of one core`);
	console.log(`  edge node resident memory: ${rss.toFixed(0)} MB with ${list.devices.length} devices open`);
	const coalesceMs = readEnv({ SERIAL_READ_COALESCE_MS: process.env.SERIAL_READ_COALESCE_MS }).serialReadCoalesceMs;
	const load = os
		.loadavg()
		.map(l => l.toFixed(2))
		.join(" ");
	console.log(
		`  edge node flags: ${edgeNodeArgs().join(" ") || "none"}; SERIAL_READ_COALESCE_MS ${coalesceMs}; load ${load}`
	);

	for (const w of writers) clearInterval(w);
	for (const fd of fds) fs.closeSync(fd);
	await edge.kill("SIGTERM");
	await broker.stop();
	await Promise.all(ptys.map(p => p.close()));
	fs.rmSync(dir, { recursive: true, force: true });
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
