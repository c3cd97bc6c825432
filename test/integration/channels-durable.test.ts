/**
 * Durable channels through the real servers: a message published while its consumer node is
 * down is delivered once the node is back (NATS JetStream, Redis Streams), and a message
 * whose handler keeps failing ends in the dead-letter channel with its origin.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { DEAD_LETTER_CHANNEL } from "../../mixins/channels";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { deleteNatsStreams, deleteRedisKeys } from "../helpers/cleanup";
import { NATS_URL, REDIS_URL, requireServer } from "../helpers/servers";

type Received = { payload: any; headers?: Record<string, string> };

function consumerService(received: Received[], opts: { fail?: boolean } = {}): ServiceSchema {
	return {
		name: "consumer",
		channels: {
			"demo.batches": {
				group: "demo-consumer",
				async handler(payload: unknown) {
					if (opts.fail && (payload as any).poison) throw new Error("cannot process this batch");
					received.push({ payload });
				}
			}
		}
	} as ServiceSchema;
}

const backends = [
	{ name: "NATS JetStream", server: "nats" as const, env: { TRANSPORTER: NATS_URL }, cleanup: deleteNatsStreams },
	{
		name: "Redis Streams",
		server: "redis" as const,
		env: { REDIS_URL, CHANNELS_REDIS_MIN_IDLE_MS: "500" },
		cleanup: deleteRedisKeys
	}
];

for (const backend of backends) {
	describe(`channels over ${backend.name}`, () => {
		const namespace = uniqueNamespace("chan");
		const brokers: ServiceBroker[] = [];
		const make = (nodeID: string, services: ServiceSchema[] = []) => {
			const b = createTestBroker({ namespace, nodeID, env: backend.env, services });
			brokers.push(b);
			return b;
		};

		afterAll(async () => {
			await Promise.all(brokers.map(b => b.stop().catch(() => undefined)));
			await backend.cleanup(namespace).catch(() => undefined);
		});

		it("delivers a batch published while the consumer node is down once it is back", async () => {
			await requireServer(backend.server);
			const received: Received[] = [];
			const producer = make("producer");
			await producer.start();

			// The consumer node comes up once (creating its durable group) and goes down.
			let consumer = make("consumer-1", [consumerService(received)]);
			await consumer.start();
			await (producer as any).sendToChannel("demo.batches", { seq: 1, readings: [1, 2, 3] });
			await waitFor(() => received.length === 1, 15_000, "the first batch");
			await consumer.stop();

			await (producer as any).sendToChannel("demo.batches", { seq: 2, readings: [4, 5] });
			await (producer as any).sendToChannel("demo.batches", { seq: 3, readings: [6] });

			consumer = make("consumer-2", [consumerService(received)]);
			await consumer.start();
			await waitFor(() => received.length >= 3, 20_000, "the batches sent while the consumer was down");
			expect(received.map(r => r.payload.seq)).toEqual([1, 2, 3]);
			await consumer.stop();
		});

		it("delivers what was sent before the consumer group ever existed", async () => {
			await requireServer(backend.server);
			const got: unknown[] = [];
			const producer = make("early-producer");
			await producer.start();
			// Creating the stream is the consumer's job in @moleculer/channels; a channel's
			// stream exists once any group subscribed, so a watcher group comes first.
			const watcher = make("watcher", [
				{ name: "watcher", channels: { "demo.early": { group: "watcher", handler() {} } } } as ServiceSchema
			]);
			await watcher.start();
			await (producer as any).sendToChannel("demo.early", { seq: "before-the-group" });
			const late = make("late", [
				{
					name: "late",
					channels: { "demo.early": { group: "late-group", handler: (p: unknown) => void got.push(p) } }
				} as ServiceSchema
			]);
			await late.start();
			await waitFor(() => got.length === 1, 15_000, "the batch sent before the group existed");
			expect(got).toEqual([{ seq: "before-the-group" }]);
		});

		it("moves a batch whose handler keeps failing to the dead-letter channel, with its origin", async () => {
			await requireServer(backend.server);
			const received: Received[] = [];
			const dead: Received[] = [];
			const consumer = make("consumer-3", [
				consumerService(received, { fail: true }),
				{
					name: "dead-letter-watcher",
					channels: {
						[DEAD_LETTER_CHANNEL]: {
							group: "dead-letter-watcher",
							// The watcher itself must never dead-letter into its own channel.
							deadLettering: { enabled: false },
							handler(payload: unknown, raw: any) {
								const headers: Record<string, string> = {};
								if (raw?.headers?.get)
									for (const k of ["x-original-channel", "x-original-group"])
										headers[k] = raw.headers.get(k);
								else if (raw?.headers)
									Object.assign(
										headers,
										typeof raw.headers === "string" ? JSON.parse(raw.headers) : raw.headers
									);
								dead.push({ payload, headers });
							}
						}
					}
				} as ServiceSchema
			]);
			await consumer.start();
			await (consumer as any).sendToChannel("demo.batches", { poison: true, seq: 99 });
			await (consumer as any).sendToChannel("demo.batches", { seq: 100 });

			await waitFor(() => dead.length === 1, 30_000, "the poison batch in the dead-letter channel");
			expect(dead[0].payload).toEqual({ poison: true, seq: 99 });
			expect(JSON.stringify(dead[0].headers)).toContain(`${namespace}.demo.batches`);
			// The good batch after it was not held back.
			await waitFor(() => received.some(r => r.payload.seq === 100), 15_000, "the good batch");
			expect(received.some(r => r.payload.poison)).toBe(false);
		});
	});
}
