/**
 * The decoder's metadata version read (pipeline-decode's readVersion): batches that start while a
 * read is in flight share it (one query, not one per batch, under a backlog), and the read after
 * it sees a registry change. On PGlite (embedded), through the service's own database; the
 * query count comes from wrapping that database's `query` (a spy that passes every call on).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import type { Database } from "../../mixins/db/database";
import { PipelineDecodeService } from "../helpers/pipeline-services";
import { createTestBroker, uniqueNamespace } from "../helpers/broker";

type Decoder = { db: Database; readVersion(): Promise<string> };

let broker: ServiceBroker;
let decoder: Decoder;
const versionReads: number[] = [];

beforeAll(async () => {
	broker = createTestBroker({
		namespace: uniqueNamespace("pipeline-metadata-version"),
		env: { PIPELINE_WARM_UP: "0" },
		services: [PipelineDecodeService]
	});
	await broker.start();
	decoder = broker.getLocalService("pipeline-decode") as unknown as Decoder;
	const query = decoder.db.query.bind(decoder.db);
	decoder.db.query = ((text: string, params?: unknown[]) => {
		if (text.includes("pipeline_metadata_seq")) versionReads.push(Date.now());
		return query(text, params);
	}) as Database["query"];
}, 60_000);

afterAll(() => broker?.stop());

describe("decoder metadata version", () => {
	it("concurrent batches share one read; the next read sees a registry change", async () => {
		const before = versionReads.length;
		const versions = await Promise.all(Array.from({ length: 16 }, () => decoder.readVersion()));
		expect(versionReads.length - before).toBe(1);
		expect(new Set(versions).size).toBe(1);

		// A change to the registry (a datapoint's decoding) moves the sequence: the next read has it.
		await decoder.db.query("UPDATE datapoints SET decoding = decoding WHERE id = (SELECT min(id) FROM datapoints)");
		const after = await decoder.readVersion();
		expect(versionReads.length - before).toBe(2);
		expect(Number(after)).toBeGreaterThan(Number(versions[0]));
	});
});
