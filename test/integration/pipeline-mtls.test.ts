/**
 * mTLS at the broker, with real TLS and certificates from the signing CA:
 *   - the embedded aedes broker of the pipeline (TLS listener, server certificate from the
 *     real signing service, plain listener on loopback only);
 *   - Mosquitto started with the configuration shipped in docker/mosquitto/.
 * Refused: no client certificate, a certificate of another CA, and a controller publishing
 * under another controller's topic. A controller's own topic gets through (control case).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import SigningService from "../../services/signing/signing.service";
import { createCA, issueCertificate } from "../../services/signing/ca";
import { createKeyAndCsr } from "../../services/shared/csr";
import { tempDir, waitFor } from "../helpers/broker";
import { freePort } from "../helpers/ports";
import { requireServer } from "../helpers/servers";
import {
	connectMqtt,
	framesFor,
	startMosquitto,
	type Mosquitto,
	startPipelineNode,
	type PipelineNode
} from "./pipeline-support";
import { errorMessage } from "../../services/shared/error-message";

const MAC1 = "aa:bb:cc:dd:ee:01";
const MAC2 = "aa:bb:cc:dd:ee:02";

async function refused(url: string, opts: Record<string, unknown>): Promise<string> {
	try {
		const c = await connectMqtt(url, opts);
		await c.endAsync();
		return "connected";
	} catch (err) {
		return `refused: ${errorMessage(err)}`;
	}
}

describe("pipeline embedded broker: mTLS with the signing CA", () => {
	let node: PipelineNode;
	let broker: ServiceBroker;
	let pg: Client;
	let tlsPort: number;
	let device1: { cert: string; key: string; ca: string };

	beforeAll(async () => {
		node = await startPipelineNode(
			"pipeline-mtls",
			async databaseUrl => ({
				DATABASE_URL: databaseUrl,
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				FLUSH_INTERVAL_MS: "20"
			}),
			[SigningService, ...PIPELINE_SERVICES]
		);
		({ broker, pg } = node);
		tlsPort = await waitFor(
			async () => (await broker.call<any>("pipeline-ingest.stats")).broker.tlsPort,
			15_000,
			"mTLS listener"
		);
		const { keyPem, csrPem } = await createKeyAndCsr("f2-device");
		device1 = {
			...(await broker.call<{ cert: string; ca: string }, { mac: string; csr: string }>(
				"signing.issueDeviceCert",
				{ mac: MAC1, csr: csrPem }
			)),
			key: keyPem
		};
	});

	afterAll(async () => {
		await node?.stop();
	});

	const url = () => `mqtts://127.0.0.1:${tlsPort}`;

	it("accepts a controller with its certificate and stores what it publishes on its own topic", async () => {
		const c = await connectMqtt(url(), {
			ca: device1.ca,
			cert: device1.cert,
			key: device1.key,
			servername: "localhost"
		});
		const ts = Date.now() - 60_000;
		for (const f of framesFor(MAC1, 1, ts)) await c.publishAsync(f.topic, f.payload, { qos: 1 });
		await c.endAsync();
		await waitFor(
			async () => (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n === 7,
			10_000,
			"7 rows of controller 01"
		);
	});

	it("refuses a client without a certificate", async () => {
		expect(await refused(url(), { ca: device1.ca, servername: "localhost" })).toMatch(/^refused/);
	});

	it("refuses a certificate issued by another CA, even with the right CN", async () => {
		const foreign = await createCA("some other CA");
		const cert = await issueCertificate(foreign, { commonName: "f2-aabbccddee01", usage: "client" });
		expect(
			await refused(url(), { ca: device1.ca, cert: cert.certPem, key: cert.keyPem, servername: "localhost" })
		).toMatch(/^refused/);
		const stats = await broker.call<any>("pipeline-ingest.stats");
		expect(stats.broker.refusedConnect).toBeGreaterThanOrEqual(2);
	});

	it("refuses a controller publishing under another controller's topic", async () => {
		const before = (
			await pg.query(
				"SELECT count(*)::int AS n FROM decoded_data d JOIN devices v ON v.id = d.device_id WHERE v.mac = $1",
				[MAC2]
			)
		).rows[0].n;
		const c = await connectMqtt(url(), {
			ca: device1.ca,
			cert: device1.cert,
			key: device1.key,
			servername: "localhost"
		});
		const closed = new Promise<void>(r => c.once("close", () => r()));
		const [frame] = framesFor(MAC2, 2, Date.now() - 30_000);
		c.publish(frame.topic, frame.payload, { qos: 1 });
		// aedes drops a client whose publish is not authorised (MQTT 3.1.1 has no negative PUBACK).
		await closed;
		c.end(true);
		await new Promise(r => setTimeout(r, 300));
		const stats = await broker.call<any>("pipeline-ingest.stats");
		expect(stats.broker.refusedPublish).toBe(1);
		const after = (
			await pg.query(
				"SELECT count(*)::int AS n FROM decoded_data d JOIN devices v ON v.id = d.device_id WHERE v.mac = $1",
				[MAC2]
			)
		).rows[0].n;
		expect(after).toBe(before);
	});

	it("binds the plain listener to loopback only", async () => {
		const stats = await broker.call<any>("pipeline-ingest.stats");
		expect(stats.broker.plainAddress).toBe("127.0.0.1");
		const local = await connectMqtt(`mqtt://127.0.0.1:${stats.broker.plainPort}`);
		await local.endAsync();
	});
});

describe("docker/mosquitto config: require_certificate, use_identity_as_username, ACL pattern", () => {
	let mosq: Mosquitto;
	let ca: Awaited<ReturnType<typeof createCA>>;
	let dev1: Awaited<ReturnType<typeof issueCertificate>>;

	beforeAll(async () => {
		await requireServer("mosquitto");
		ca = await createCA();
		const server = await issueCertificate(ca, {
			commonName: "mqtt",
			usage: "server",
			dnsNames: ["localhost"],
			ipAddresses: ["127.0.0.1"]
		});
		dev1 = await issueCertificate(ca, { commonName: "f2-aabbccddee01", usage: "client" });
		mosq = await startMosquitto(tempDir("pipeline-mosq-tls"), {
			ca: ca.certPem,
			cert: server.certPem,
			key: server.keyPem
		});
	});

	afterAll(async () => {
		await mosq?.stop();
	});

	it("refuses no certificate and a foreign CA's; lets a controller publish only on its own topics", async () => {
		const url = `mqtts://127.0.0.1:${mosq.tlsPort}`;
		expect(await refused(url, { ca: ca.certPem, servername: "localhost" })).toMatch(/^refused/);
		const foreign = await createCA("foreign");
		const fcert = await issueCertificate(foreign, { commonName: "f2-aabbccddee01", usage: "client" });
		expect(
			await refused(url, { ca: ca.certPem, cert: fcert.certPem, key: fcert.keyPem, servername: "localhost" })
		).toMatch(/^refused/);

		// What reaches subscribers: watch everything on the internal listener.
		const watcher = await connectMqtt(`mqtt://127.0.0.1:${mosq.plainPort}`);
		const seen: string[] = [];
		watcher.on("message", topic => seen.push(topic));
		await watcher.subscribeAsync("#", { qos: 1 });

		const c = await connectMqtt(url, {
			ca: ca.certPem,
			cert: dev1.certPem,
			key: dev1.keyPem,
			servername: "localhost"
		});
		const [own] = framesFor(MAC1, 1, Date.now());
		const [other] = framesFor(MAC2, 1, Date.now());
		await c.publishAsync(other.topic, other.payload, { qos: 1 });
		await c.publishAsync(own.topic, own.payload, { qos: 1 });
		await waitFor(() => seen.includes(own.topic), 5000, "own topic delivered");
		await new Promise(r => setTimeout(r, 200));
		expect(seen).not.toContain(other.topic);
		await c.endAsync();
		await watcher.endAsync();
	});
});
