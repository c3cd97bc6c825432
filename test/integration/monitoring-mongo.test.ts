/**
 * The MongoDB document sink (monitoring_data time series, device_alerts).
 *
 * No MongoDB server exists on the machine this was written on. The contract suite below runs
 * against a real server when MONGO_URL is set (e.g. MONGO_URL=mongodb://127.0.0.1:27017/fleetmesh_test);
 * without it, the same suite runs against an in-memory FAKE of the driver calls the sink makes,
 * and the suite's name and a warning say that the real-server run did NOT happen.
 * The last test needs no MongoDB at all: a MONGO_URL nobody answers must not stop monitoring.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MongoClient } from "mongodb";
import { ALERTS_COLLECTION, DATA_COLLECTION, MongoSink } from "../../services/monitoring/mongo-sink";
import MonitoringService from "../../services/monitoring/monitoring.service";
import { runHealthChecks } from "../../mixins/health";
import { createTestBroker, tempDir, uniqueNamespace } from "../helpers/broker";
import { freePort } from "../helpers/ports";

const REAL_URL = process.env.MONGO_URL;

/** Just the driver surface MongoSink uses, in memory. */
function fakeClient(): MongoClient {
	const collections = new Map<string, { options: any; docs: any[]; indexes: any[] }>();
	const coll = (name: string) => {
		if (!collections.has(name)) collections.set(name, { options: {}, docs: [], indexes: [] });
		const c = collections.get(name)!;
		const matches = (d: any, f: any) => Object.entries(f).every(([k, v]) => d[k] === v);
		return {
			insertMany: async (docs: any[]) => {
				c.docs.push(...docs.map(d => structuredClone(d)));
				return { insertedCount: docs.length };
			},
			updateOne: async (filter: any, update: { $set: any }, opts: { upsert?: boolean } = {}) => {
				const d = c.docs.find(x => matches(x, filter));
				if (d) Object.assign(d, structuredClone(update.$set));
				else if (opts.upsert) c.docs.push({ ...filter, ...structuredClone(update.$set) });
				return { matchedCount: d ? 1 : 0 };
			},
			createIndex: async (spec: any, opts: any) => {
				c.indexes.push({ spec, opts });
				return "idx";
			},
			find: (filter: any = {}) => ({ toArray: async () => c.docs.filter(d => matches(d, filter)) })
		};
	};
	const db = {
		listCollections: (filter: any = {}) => ({
			toArray: async () =>
				[...collections]
					.filter(([n]) => !filter.name || n === filter.name)
					.map(([name, c]) => ({ name, options: c.options }))
		}),
		createCollection: async (name: string, options: any) => {
			if (collections.has(name)) throw new Error(`collection ${name} exists`);
			collections.set(name, { options, docs: [], indexes: [] });
		},
		collection: coll,
		command: async () => ({ ok: 1 }),
		dropDatabase: async () => collections.clear()
	};
	return { db: () => db, close: async () => undefined } as unknown as MongoClient;
}

const label = REAL_URL
	? `MongoDB sink contract against the real server at MONGO_URL`
	: `MongoDB sink contract against an in-memory FAKE of the driver (mock: MONGO_URL is not set, the ` +
		`real-server contract suite did NOT run)`;

describe(label, () => {
	let client: MongoClient;
	let sink: MongoSink;

	beforeAll(async () => {
		if (!REAL_URL) {
			console.warn(
				"monitoring-mongo: MONGO_URL is not set — the MongoDB contract suite ran against a FAKE " +
					"driver only; the real-server suite did NOT run."
			);
			client = fakeClient();
			sink = new MongoSink("mongodb://fake.invalid/fleetmesh", async () => client);
		} else {
			// A database of its own, dropped at the end.
			const url = new URL(REAL_URL);
			url.pathname = `/fm_monitoring_${crypto.randomBytes(4).toString("hex")}`;
			const { MongoClient: Real } = await import("mongodb");
			sink = new MongoSink(url.toString(), async u => {
				client = new Real(u, { serverSelectionTimeoutMS: 5000 });
				await client.connect();
				return client;
			});
		}
		await sink.start();
	});

	afterAll(async () => {
		if (REAL_URL) await client?.db().dropDatabase();
		await sink?.stop();
	});

	it("creates monitoring_data as a time-series collection on timestamp with device_id as meta", async () => {
		const [info] = await client.db().listCollections({ name: DATA_COLLECTION }).toArray();
		expect((info as any).options.timeseries).toMatchObject({ timeField: "timestamp", metaField: "device_id" });
		// Starting again keeps the existing collection.
		await sink.stop();
		await sink.start();
	});

	it("writes one document per device and timestamp with metrics by label and the raw readings", async () => {
		const ts = Date.parse("2026-01-01T00:00:00Z");
		const n = await sink.writeReadings([
			{ deviceId: 3, datapointId: 10, label: "temperature", unit: "°C", value: 21.5, ts },
			{ deviceId: 3, datapointId: 11, label: "humidity", unit: "%", value: 40, ts },
			{ deviceId: 4, datapointId: 20, label: "temperature", unit: "°C", value: 19, ts }
		]);
		expect(n).toBe(2);
		const docs = await client.db().collection(DATA_COLLECTION).find({ device_id: 3 }).toArray();
		expect(docs).toHaveLength(1);
		expect(docs[0]).toMatchObject({ device_id: 3, metrics: { temperature: 21.5, humidity: 40 } });
		expect(new Date(docs[0].timestamp).toISOString()).toBe("2026-01-01T00:00:00.000Z");
		expect(docs[0].raw_data).toEqual([
			{ datapoint_id: 10, label: "temperature", unit: "°C", value: 21.5 },
			{ datapoint_id: 11, label: "humidity", unit: "%", value: 40 }
		]);
		expect(await sink.writeReadings([])).toBe(0);
	});

	it("keeps one device_alerts document per alert through raise, acknowledge and clear", async () => {
		const at = new Date("2026-01-01T00:05:00Z");
		const raised = {
			alert_id: 77,
			device_id: 3,
			alert_type: "threshold",
			severity: "critical",
			datapoint: "temperature",
			message: "too hot",
			timestamp: at,
			acknowledged: false,
			acknowledged_at: null,
			cleared_at: null
		} as const;
		// Raised twice (a redelivered event): still one document.
		await sink.writeAlert({ ...raised });
		await sink.writeAlert({ ...raised });
		await sink.updateAlert(77, { acknowledged: true, acknowledged_at: new Date("2026-01-01T00:06:00Z") });
		await sink.updateAlert(77, { cleared_at: new Date("2026-01-01T00:07:00Z") });
		const docs = await client.db().collection(ALERTS_COLLECTION).find({ alert_id: 77 }).toArray();
		expect(docs).toHaveLength(1);
		expect(docs[0]).toMatchObject({
			device_id: 3,
			alert_type: "threshold",
			message: "too hot",
			acknowledged: true
		});
		expect(new Date(docs[0].cleared_at).toISOString()).toBe("2026-01-01T00:07:00.000Z");
		await sink.ping();
	});
});

describe("monitoring with a MONGO_URL that nobody answers (no MongoDB needed)", () => {
	it("starts, serves queries and reports mongodb as not ready instead of failing", async () => {
		const port = await freePort();
		const broker = createTestBroker({
			namespace: uniqueNamespace("mon-mongo-down"),
			env: {
				DATA_DIR: tempDir("mon-mongo-down"),
				MONGO_URL: `mongodb://127.0.0.1:${port}/fleetmesh`,
				PROFILES_DIR: tempDir("np")
			},
			services: [MonitoringService]
		});
		await broker.start();
		try {
			await expect(broker.call("monitoring.alerts", {})).resolves.toEqual({ items: [], nextCursor: null });
			const report = await runHealthChecks(broker);
			expect(report.checks.mongodb).toMatchObject({ ok: false });
			expect(report.checks.mongodb.error).toMatch(/MongoDB not connected/);
			expect(report.ready).toBe(false);
		} finally {
			await broker.stop();
		}
	});
});
