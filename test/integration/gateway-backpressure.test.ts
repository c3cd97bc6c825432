/**
 * Back-pressure of a database read through the real gateway on PostgreSQL: up to the bulkhead's
 * documented limit (DB_POOL_MAX running + BULKHEAD_QUEUE waiting per action) every request is
 * answered 200, however long it waits; past it the gateway sheds at once with 503 SERVER_BUSY and
 * Retry-After, never 429 (that is the per-client rate limit).
 *
 * The reads are held by a real lock: a second connection takes an ACCESS EXCLUSIVE lock on
 * decoded_data, so the running reads wait inside PostgreSQL and the rest fill the queue; when
 * the lock is released every queued read is answered.
 */
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import MonitoringService from "../../services/monitoring/monitoring.service";
import { tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

const POOL = 2;
const QUEUE = 20;
const LIMIT = POOL + QUEUE;

let pg: TestDatabase;
let node: GatewayNode;
let token: string;
let deviceId: number;

beforeAll(async () => {
	pg = await createTestDatabase("gw_backpressure");
	node = await startGatewayNode({
		namespace: uniqueNamespace("gw-backpressure"),
		env: {
			DATABASE_URL: pg.url,
			DB_POOL_MAX: String(POOL),
			BULKHEAD_QUEUE: String(QUEUE),
			PROFILES_DIR: tempDir("gw-bp-profiles")
		},
		extra: [MonitoringService]
	});
	token = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
	const c = new Client({ connectionString: pg.url });
	await c.connect();
	const {
		rows: [d]
	} = await c.query(
		"INSERT INTO devices (uid, name, status) VALUES ('bp-1', 'Back-pressure', 'streaming') RETURNING id"
	);
	const {
		rows: [dp]
	} = await c.query("INSERT INTO datapoints (device_id, label, unit) VALUES ($1, 'temperature', '°C') RETURNING id", [
		d.id
	]);
	await c.query(
		"INSERT INTO decoded_data (timestamp, device_id, datapoint_id, value) " +
			"SELECT now() - i * interval '1 second', $1, $2, i FROM generate_series(1, 50) i",
		[d.id, dp.id]
	);
	await c.end();
	deviceId = Number(d.id);
	// The route is published and the admin's state is cached (so auth needs no connection below).
	await waitFor(
		async () =>
			(await api(node.url, "GET", `/api/monitoring/data?device=${deviceId}`, undefined, token)).status === 200,
		15_000,
		"the monitoring route"
	);
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await pg?.drop();
});

const read = () => api(node.url, "GET", `/api/monitoring/data?device=${deviceId}&limit=10`, undefined, token);

/** Queued calls of monitoring.data, from the bulkhead's own gauge. */
function queued(): number {
	const metric = node.broker.metrics.getMetric("moleculer.request.bulkhead.queue.size") as unknown as {
		generateSnapshot(): { labels: { action?: string }; value: number }[];
	} | null;
	return metric?.generateSnapshot().find(v => v.labels.action === "monitoring.data")?.value ?? 0;
}

/** Holds every read of decoded_data until the returned function is called. */
async function lockReadings(): Promise<() => Promise<void>> {
	const c = new Client({ connectionString: pg.url });
	await c.connect();
	await c.query("BEGIN");
	await c.query("LOCK TABLE decoded_data IN ACCESS EXCLUSIVE MODE");
	return async () => {
		await c.query("COMMIT");
		await c.end();
	};
}

describe("gateway back-pressure on GET /api/monitoring/data", () => {
	it("answers every request up to the limit, and past it sheds with 503 + Retry-After, never 429", async () => {
		const release = await lockReadings();
		let held: Promise<Awaited<ReturnType<typeof read>>[]>;
		try {
			// Exactly the limit: POOL running (waiting on the lock), QUEUE in the bulkhead's queue.
			held = Promise.all(Array.from({ length: LIMIT }, read));
			await waitFor(() => queued() === QUEUE, 15_000, `${QUEUE} queued reads`);

			// One more each: refused at once, with when to come back.
			const t0 = Date.now();
			const shed = await Promise.all(Array.from({ length: 5 }, read));
			expect(Date.now() - t0).toBeLessThan(3000);
			for (const r of shed) {
				expect(r.status).toBe(503);
				expect(r.headers.get("retry-after")).toBe("1");
				expect(r.body).toMatchObject({ code: 503, type: "SERVER_BUSY", data: { retryAfter: 1 } });
			}
		} finally {
			await release();
		}
		// The held ones were only waiting: all answered, with the rows.
		const answers = await held!;
		expect(answers.map(r => r.status)).toEqual(Array(LIMIT).fill(200));
		expect(answers[0].body.items).toHaveLength(10);
		expect(queued()).toBe(0);
	}, 60_000);

	it("a burst well above the running slots but within the queue gets no 429 and no 503", async () => {
		const answers = await Promise.all(Array.from({ length: LIMIT }, read));
		expect(answers.filter(r => r.status !== 200).map(r => r.status)).toEqual([]);
	}, 30_000);
});
