/**
 * Load generator of the pipeline benchmarks, run as its own process (so it does not share an
 * event loop with the pipeline): simulated FACES2 controllers publishing frames to MQTT, one
 * connection per controller. Started by bench/lib/publishers.ts (spawnPublishers).
 *
 *   node --import tsx bench/pipeline/publisher.ts <url> <macs,…> <frames> <framesPerSecond|0> <qos> [tls-json-file]
 *     [--publisher lean|mqttjs] [--protocol 4|5] [--window 4000] [--sync]
 *
 * framesPerSecond 0 = as fast as the broker takes them, at most --window frames unacknowledged
 * (over all of the process's connections). The frames, topics and timestamps come from
 * bench/lib/frames.ts whichever client publishes them:
 *   lean    bench/lib/lean-mqtt.ts: QoS 1 PUBLISH packets built by hand into one output chunk per
 *           connection, many per socket write, PUBACKs parsed in a loop (the default: it leaves
 *           the cores to the system under test);
 *   mqttjs  mqtt.js, one publish() call with a callback per frame (the publisher of sessions 1–3).
 * Both: MQTT 3.1.1 (--protocol 5 for MQTT 5; lean only), clean session, "done" only once every
 * PUBLISH has its PUBACK.
 *
 * --sync: print {"event":"ready"} once connected and wait for a line on stdin before publishing,
 * so several publisher processes start together. The last line is {"event":"done", …} with the
 * first publish (t0), the last PUBACK (t1) and the CPU seconds of the process between the two.
 *
 * PUBLISH_SENSORS (default "1,2") lists the sensors published in turn: "1" sends only the
 * 8-byte sensor-1 frames (3 datapoints each), as the side-by-side peer benchmark does.
 */
import fs from "node:fs";
import mqtt from "mqtt";
import { errorMessage } from "../../services/shared/error-message";
import { FrameSource, PUBLISHER_CLIENT_PREFIX } from "../lib/frames";
import { LeanMqttConnection } from "../lib/lean-mqtt";
import { option } from "../lib/controllers";

const argv = process.argv.slice(2);
const FLAGS_WITH_VALUE = new Set(["--publisher", "--protocol", "--window"]);
const positional = argv.filter((a, i) => !a.startsWith("--") && !FLAGS_WITH_VALUE.has(argv[i - 1]));
const [url, macsCsv, framesArg, rateArg, qosArg, tlsFile] = positional;
const macs = macsCsv.split(",");
const total = Number(framesArg);
const rate = Number(rateArg);
const qos = Number(qosArg) as 0 | 1;
const kind = option("publisher", "lean", argv);
const protocolVersion = Number(option("protocol", "4", argv)) as 4 | 5;
const window = Number(option("window", "4000", argv));
const sync = argv.includes("--sync");
const frames = new FrameSource(macs, (process.env.PUBLISH_SENSORS ?? "1,2").split(",").map(Number));
const tls = tlsFile
	? (JSON.parse(fs.readFileSync(tlsFile, "utf8")) as Record<string, { cert: string; key: string; ca: string }>)
	: null;
const clientId = (k: number) => `${PUBLISHER_CLIENT_PREFIX}${process.pid}-${k}`;

interface Run {
	sent: () => number;
	acked: () => number;
	/** Publishes every frame (flat out or paced); resolves at the last PUBACK. */
	run(): Promise<void>;
	close(): Promise<void>;
}

async function mqttjsRun(): Promise<Run> {
	if (protocolVersion !== 4) throw new Error("the mqttjs publisher speaks MQTT 3.1.1 only here (--protocol 4)");
	const clients = await Promise.all(
		macs.map(
			(mac, k) =>
				new Promise<mqtt.MqttClient>((resolve, reject) => {
					const opts: mqtt.IClientOptions = { reconnectPeriod: 0, clean: true, clientId: clientId(k) };
					if (tls) Object.assign(opts, { ...tls[mac], servername: "localhost" });
					const c = mqtt.connect(url, opts);
					c.once("connect", () => resolve(c));
					c.once("error", reject);
				})
		)
	);
	let sent = 0;
	let acked = 0;
	const publishOne = (i: number) => {
		const f = frames.frame(i);
		sent++;
		clients[f.controller].publish(frames.topics[f.slot], f.payload, { qos }, () => acked++);
	};
	return {
		sent: () => sent,
		acked: () => acked,
		async run() {
			if (rate > 0)
				await paced(
					due => {
						while (sent < due) publishOne(sent);
					},
					() => sent >= total
				);
			else {
				while (sent < total) {
					while (sent < total && sent - acked < window) publishOne(sent);
					await new Promise(r => setImmediate(r));
				}
			}
			while (acked < sent) await new Promise(r => setTimeout(r, 5));
		},
		close: () => Promise.all(clients.map(c => c.endAsync())).then(() => undefined)
	};
}

async function leanRun(): Promise<Run> {
	if (qos !== 1) throw new Error("the lean publisher publishes QoS 1 only");
	let failure: Error | null = null;
	let wake: (() => void) | null = null;
	let scheduled = false;
	const onAcks = () => {
		if (!scheduled && wake) {
			scheduled = true;
			setImmediate(() => {
				scheduled = false;
				wake?.();
			});
		}
	};
	const onError = (err: Error) => {
		failure ??= err;
		wake?.();
	};
	const conns = await Promise.all(
		macs.map((mac, k) =>
			LeanMqttConnection.connect({
				url,
				clientId: clientId(k),
				protocolVersion,
				tls: tls ? { ...tls[mac], servername: "localhost" } : undefined,
				onAcks,
				onError
			})
		)
	);
	for (const c of conns) c.setTopics(frames.topics);
	let sent = 0;
	const acked = () => conns.reduce((s, c) => s + c.acked, 0);
	/** Publishes up to frame `limit` (window and Receive Maximum allowing), then one write per connection. */
	const fill = (limit: number, bounded: boolean) => {
		let inFlight = sent - acked();
		while (sent < limit && (!bounded || inFlight < window)) {
			const f = frames.frame(sent);
			const c = conns[f.controller];
			if (c.inflight >= c.receiveMaximum) break; // frame `sent` is published on a later call
			c.publish(f.slot, f.payload);
			sent++;
			inFlight++;
		}
		for (const c of conns) c.flush();
	};
	return {
		sent: () => sent,
		acked,
		async run() {
			await new Promise<void>((resolve, reject) => {
				// Refill once an eighth of the window is free (or the rest fits): fewer, larger writes.
				const refillAt = Math.max(1, Math.floor(window / 8));
				const check = () => {
					if (failure) return reject(failure);
					const free = window - (sent - acked());
					if (rate === 0 && (free >= refillAt || free >= total - sent)) fill(total, true);
					if (sent >= total && acked() >= total) resolve();
				};
				wake = check;
				if (rate > 0)
					void paced(
						due => fill(due, false),
						() => sent >= total
					);
				check();
			});
			wake = null;
		},
		close: () => Promise.all(conns.map(c => c.close())).then(() => undefined)
	};
}

/** Calls publishDue(frames due by now) every 10 ms until allSent(). */
function paced(publishDue: (due: number) => void, allSent: () => boolean): Promise<void> {
	const t0 = Date.now();
	return new Promise(resolve => {
		const timer = setInterval(() => {
			publishDue(Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000)));
			if (allSent()) {
				clearInterval(timer);
				resolve();
			}
		}, 10);
	});
}

async function main() {
	const pub = kind === "lean" ? await leanRun() : kind === "mqttjs" ? await mqttjsRun() : null;
	if (!pub) throw new Error(`--publisher ${kind}: lean or mqttjs`);
	if (sync) {
		process.stdout.write(JSON.stringify({ event: "ready" }) + "\n");
		await new Promise(resolve => process.stdin.once("data", resolve));
		process.stdin.pause();
	}
	const cpu0 = process.cpuUsage();
	const t0 = Date.now();
	await pub.run();
	const t1 = Date.now();
	const cpu = process.cpuUsage(cpu0);
	await pub.close();
	process.stdout.write(
		JSON.stringify({
			event: "done",
			publisher: kind,
			frames: pub.sent(),
			acked: pub.acked(),
			t0,
			t1,
			cpuRun: (cpu.user + cpu.system) / 1e6
		}) + "\n"
	);
}

main().catch(err => {
	process.stderr.write(`publisher: ${errorMessage(err)}\n`);
	process.exit(1);
});
