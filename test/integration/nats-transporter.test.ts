/**
 * The mesh's NATS transporter (mixins/nats-transporter.ts) on the real NATS: the packets of one
 * turn are published together, in order, each send settles on its own, the queue is written
 * before a disconnect, and two nodes still call each other through it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { connect, type NatsConnection } from "nats";
import { BatchingNatsTransporter } from "../../mixins/nats-transporter";
import EchoService from "../fixtures/mesh/echo.service";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { NATS_URL, requireServer } from "../helpers/servers";

const ns = uniqueNamespace("nats-tx");
let a: ServiceBroker;
let b: ServiceBroker;
let raw: NatsConnection;

interface Tx {
	send(topic: string, data: Buffer): Promise<void>;
	disconnect(): Promise<void>;
}
const txOf = (broker: ServiceBroker) => (broker.transit as unknown as { tx: Tx }).tx;

/** Messages arriving on `subject` in a raw NATS subscription. */
async function collect(subject: string): Promise<string[]> {
	const got: string[] = [];
	raw.subscribe(subject, { callback: (_err, msg) => got.push(Buffer.from(msg.data).toString()) });
	await raw.flush();
	return got;
}

beforeAll(async () => {
	await requireServer("nats");
	raw = await connect({ servers: NATS_URL });
	a = createTestBroker({ namespace: ns, nodeID: "tx-a", env: { TRANSPORTER: NATS_URL }, services: [EchoService] });
	b = createTestBroker({ namespace: ns, nodeID: "tx-b", env: { TRANSPORTER: NATS_URL } });
	await Promise.all([a.start(), b.start()]);
	await b.waitForServices("echo", 20_000);
});

afterAll(async () => {
	await Promise.allSettled([a?.stop(), b?.stop()]);
	await raw?.close();
});

describe("BatchingNatsTransporter", () => {
	it("is the transporter of a NATS node, and remote calls go through it", async () => {
		expect(txOf(b)).toBeInstanceOf(BatchingNatsTransporter);
		const answers = await Promise.all(
			Array.from({ length: 200 }, (_, i) => b.call("echo.echo", { i }, { nodeID: "tx-a" }))
		);
		expect(answers.map(x => (x as { i: number }).i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
	});

	it("publishes the packets of one turn in the order they were sent", async () => {
		const subject = `${ns}.order`;
		const got = await collect(subject);
		const tx = txOf(b);
		const sends = Array.from({ length: 50 }, (_, i) => tx.send(subject, Buffer.from(String(i))));
		await Promise.all(sends);
		await waitFor(() => got.length === 50, 5000, "50 messages");
		expect(got).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
	});

	it("a packet NATS refuses fails its own send; the others of its turn are delivered", async () => {
		const subject = `${ns}.refused`;
		const got = await collect(subject);
		const tx = txOf(b);
		const tooLarge = Buffer.alloc(raw.info!.max_payload + 1);
		const results = await Promise.allSettled([
			tx.send(subject, Buffer.from("before")),
			tx.send(subject, tooLarge),
			tx.send(subject, Buffer.from("after"))
		]);
		expect(results.map(r => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
		await waitFor(() => got.length === 2, 5000, "the two small messages");
		expect(got).toEqual(["before", "after"]);
	});

	it("writes what is queued before it disconnects", async () => {
		const subject = `${ns}.last`;
		const got = await collect(subject);
		const c = createTestBroker({ namespace: ns, nodeID: "tx-c", env: { TRANSPORTER: NATS_URL } });
		await c.start();
		const sent = txOf(c).send(subject, Buffer.from("last words"));
		await c.stop();
		await sent;
		await waitFor(() => got.length === 1, 5000, "the message sent just before stop");
		expect(got).toEqual(["last words"]);
	});
});
