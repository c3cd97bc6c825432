/**
 * Load generator of the pipeline benchmark, run as its own process (so it does not share an
 * event loop with the pipeline): simulated FACES2 controllers publishing frames to MQTT.
 *
 *   node --import tsx bench/pipeline/publisher.ts <url> <macs,…> <frames> <framesPerSecond|0> <qos> [tls-json-file]
 *
 * framesPerSecond 0 = as fast as the broker takes them (bounded in-flight window). Each
 * frame's timestamp is its publish time in ms, kept unique per controller and sensor, so
 * the bench can compute publish-to-commit latency from the stored rows.
 *
 * PUBLISH_SENSORS (default "1,2") lists the sensors published in turn: "1" sends only the
 * 8-byte sensor-1 frames (3 datapoints each), as the side-by-side peer benchmark does.
 */
import fs from "node:fs";
import mqtt from "mqtt";
import { controllerTopic, encodePayload, FACES2_LAYOUT } from "../../services/shared/contracts/faces2";
import { simulatedValues } from "../../services/simulator/controllers-frames";
import { errorMessage } from "../../services/shared/error-message";

const [url, macsCsv, framesArg, rateArg, qosArg, tlsFile] = process.argv.slice(2);
const macs = macsCsv.split(",");
const total = Number(framesArg);
const rate = Number(rateArg);
const qos = Number(qosArg) as 0 | 1;
const sensors = (process.env.PUBLISH_SENSORS ?? "1,2").split(",").map(Number);
const tls = tlsFile
	? (JSON.parse(fs.readFileSync(tlsFile, "utf8")) as Record<string, { cert: string; key: string; ca: string }>)
	: null;

async function main() {
	const clients = await Promise.all(
		macs.map(
			mac =>
				new Promise<mqtt.MqttClient>((resolve, reject) => {
					const opts: mqtt.IClientOptions = { reconnectPeriod: 0, clean: true };
					if (tls) Object.assign(opts, { ...tls[mac], servername: "localhost" });
					const c = mqtt.connect(url, opts);
					c.once("connect", () => resolve(c));
					c.once("error", reject);
				})
		)
	);
	const last = new Map<string, number>();
	let sent = 0;
	let acked = 0;
	const t0 = Date.now();
	const window = 4000;
	const publishOne = (i: number) => {
		const k = i % macs.length;
		const sensor = sensors[Math.floor(i / macs.length) % sensors.length];
		const key = `${k}:${sensor}`;
		const ts = Math.max(Date.now(), (last.get(key) ?? 0) + 1);
		last.set(key, ts);
		const values = simulatedValues(k, ts, i)[sensor];
		const payload = encodePayload(FACES2_LAYOUT[sensor], values, ts);
		sent++;
		clients[k].publish(controllerTopic(macs[k], sensor), payload, { qos }, () => acked++);
	};
	if (rate > 0) {
		const tickMs = 10;
		await new Promise<void>(resolve => {
			const timer = setInterval(() => {
				const due = Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000));
				while (sent < due) publishOne(sent);
				if (sent >= total) {
					clearInterval(timer);
					resolve();
				}
			}, tickMs);
		});
	} else {
		while (sent < total) {
			while (sent < total && sent - acked < window) publishOne(sent);
			await new Promise(r => setImmediate(r));
		}
	}
	while (acked < sent) await new Promise(r => setTimeout(r, 5));
	const t1 = Date.now();
	await Promise.all(clients.map(c => c.endAsync()));
	process.stdout.write(JSON.stringify({ event: "done", frames: sent, t0, t1 }) + "\n");
}

main().catch(err => {
	process.stderr.write(`publisher: ${errorMessage(err)}\n`);
	process.exit(1);
});
