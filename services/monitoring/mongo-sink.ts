/**
 * Optional MongoDB document sink: when MONGO_URL is set, raw readings go to the
 * time-series collection `monitoring_data` and alerts to `device_alerts`. PostgreSQL stays the
 * system of record; a MongoDB outage is logged and counted, never allowed to stop alerts or
 * live push.
 *
 * Written against the official `mongodb` driver. No MongoDB server exists on the machine this
 * was developed on: the contract suite (test/integration/monitoring-mongo.test.ts) runs only
 * when MONGO_URL is set.
 */
import type { Collection, Db, MongoClient } from "mongodb";

/** One document per device and timestamp: `device_id, timestamp, metrics, raw_data`. */
export interface MonitoringDocument {
	timestamp: Date;
	device_id: number;
	metrics: Record<string, number>;
	raw_data: { datapoint_id: number; label: string; unit: string | null; value: number }[];
}

/** Seed 001's `device_alerts: device_id, alert_type, message, timestamp, acknowledged`, plus our ids. */
export interface AlertDocument {
	alert_id: number;
	device_id: number;
	alert_type: string;
	severity: string;
	datapoint: string | null;
	message: string;
	timestamp: Date;
	acknowledged: boolean;
	acknowledged_at?: Date | null;
	cleared_at?: Date | null;
}

export interface SinkReading {
	deviceId: number;
	datapointId: number;
	label: string;
	unit: string | null;
	value: number;
	ts: number;
}

/** Groups readings into one document per device and timestamp. */
export function toMonitoringDocuments(readings: SinkReading[]): MonitoringDocument[] {
	const docs = new Map<string, MonitoringDocument>();
	for (const r of readings) {
		const key = `${r.deviceId}:${r.ts}`;
		let doc = docs.get(key);
		if (!doc)
			docs.set(key, (doc = { timestamp: new Date(r.ts), device_id: r.deviceId, metrics: {}, raw_data: [] }));
		doc.metrics[r.label] = r.value;
		doc.raw_data.push({ datapoint_id: r.datapointId, label: r.label, unit: r.unit, value: r.value });
	}
	return [...docs.values()];
}

export const DATA_COLLECTION = "monitoring_data";
export const ALERTS_COLLECTION = "device_alerts";

export class MongoSink {
	private client: MongoClient | null = null;
	private db: Db | null = null;

	constructor(
		private readonly url: string,
		private readonly connect: (url: string) => Promise<MongoClient> = defaultConnect
	) {}

	async start(): Promise<void> {
		this.client = await this.connect(this.url);
		this.db = this.client.db();
		await this.ensureCollections();
	}

	/** Creates the time-series collection and the alert index once; existing ones are kept. */
	private async ensureCollections(): Promise<void> {
		const db = this.db!;
		const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map(c => c.name));
		if (!existing.has(DATA_COLLECTION)) {
			await db.createCollection(DATA_COLLECTION, {
				timeseries: { timeField: "timestamp", metaField: "device_id", granularity: "seconds" }
			});
		}
		await db.collection(ALERTS_COLLECTION).createIndex({ alert_id: 1 }, { unique: true });
		await db.collection(ALERTS_COLLECTION).createIndex({ device_id: 1, timestamp: -1 });
	}

	private get data(): Collection<MonitoringDocument> {
		if (!this.db) throw new Error("MongoSink is not started");
		return this.db.collection<MonitoringDocument>(DATA_COLLECTION);
	}

	private get alerts(): Collection<AlertDocument> {
		if (!this.db) throw new Error("MongoSink is not started");
		return this.db.collection<AlertDocument>(ALERTS_COLLECTION);
	}

	async writeReadings(readings: SinkReading[]): Promise<number> {
		const docs = toMonitoringDocuments(readings);
		if (!docs.length) return 0;
		// Unordered: one bad document does not stop the rest of the batch.
		const res = await this.data.insertMany(docs, { ordered: false });
		return res.insertedCount;
	}

	/** Upsert by alert id: raising, clearing and acknowledging all land on one document. */
	async writeAlert(doc: AlertDocument): Promise<void> {
		await this.alerts.updateOne({ alert_id: doc.alert_id }, { $set: doc }, { upsert: true });
	}

	async updateAlert(alertId: number, patch: Partial<AlertDocument>): Promise<void> {
		await this.alerts.updateOne({ alert_id: alertId }, { $set: patch });
	}

	async ping(): Promise<void> {
		await this.db!.command({ ping: 1 });
	}

	async stop(): Promise<void> {
		await this.client?.close();
		this.client = null;
		this.db = null;
	}
}

async function defaultConnect(url: string): Promise<MongoClient> {
	const { MongoClient } = await import("mongodb");
	// Fail fast when the server is not there: the sink is optional, the node must still start.
	const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, appName: "fleetmesh-monitoring" });
	try {
		await client.connect();
	} catch (err) {
		await client.close().catch(() => undefined);
		throw err;
	}
	return client;
}
