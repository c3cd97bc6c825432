/**
 * Embedded channels (no TRANSPORTER, no REDIS_URL: the in-process adapter) under a burst: the
 * adapter's default per-channel bulkhead queues 100 messages and drops the rest; the pipeline
 * must not lose a batch to it. 400 iot.raw messages at once → every row stored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { freePort } from "../helpers/ports";
import { framesFor, MACS } from "./pipeline-support";

describe("pipeline on the in-process channel adapter: a burst loses nothing", () => {
	let db: TestDatabase;
	let broker: ServiceBroker;

	beforeAll(async () => {
		db = await createTestDatabase("pipeline_burst");
		broker = createTestBroker({
			namespace: uniqueNamespace("pipeline-burst"),
			env: {
				DATABASE_URL: db.url,
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				FLUSH_INTERVAL_MS: "20"
			},
			services: [...PIPELINE_SERVICES]
		});
		await broker.start();
	});

	afterAll(async () => {
		await broker?.stop();
		await db?.drop();
	});

	it("stores every row of 400 iot.raw batches sent at once", async () => {
		const base = Date.now() - 3600_000;
		const sends: Promise<unknown>[] = [];
		for (let b = 0; b < 400; b++) {
			const messages = [];
			for (let k = 0; k < 5; k++) {
				const i = b * 5 + k;
				for (const f of framesFor(MACS[i % 4], i, base + i * 10)) {
					messages.push({
						topic: f.topic,
						payload: Buffer.from(f.payload).toString("base64"),
						receivedAt: new Date().toISOString()
					});
				}
			}
			sends.push(broker.sendToChannel("iot.raw", { messages }));
		}
		await Promise.all(sends);
		const expected = 400 * 5 * 7;
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			await waitFor(
				async () => (await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n >= expected,
				30_000,
				`${expected} rows`
			);
			expect((await pg.query("SELECT count(*)::int AS n FROM decoded_data")).rows[0].n).toBe(expected);
		} finally {
			await pg.end();
		}
	});
});
