/**
 * The embedded defaults as `npm start` runs them (no MQTT_URL, no TRANSPORTER): the simulated
 * controllers get client certificates from the real signing service, connect to the
 * pipeline's embedded broker over mTLS and their frames land in decoded_data.
 * (The simulator here carries only the controllers mixin: the PTY devices are another area.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { PIPELINE_SERVICES } from "../helpers/pipeline-services";
import SigningService from "../../services/signing/signing.service";
import { ControllersMixin } from "../../services/simulator/controllers.mixin";
import { waitFor } from "../helpers/broker";
import { freePort } from "../helpers/ports";
import { startPipelineNode, type PipelineNode } from "./pipeline-support";

describe("simulated FACES2 controllers → embedded mTLS broker → decoded_data", () => {
	let node: PipelineNode;
	let broker: ServiceBroker;
	let pg: Client;

	beforeAll(async () => {
		node = await startPipelineNode(
			"pipeline-sim",
			async databaseUrl => ({
				DATABASE_URL: databaseUrl,
				SIMULATE: "1",
				SIM_CONTROLLER_INTERVAL_MS: "100",
				MQTT_PORT: String(await freePort()),
				MQTTS_PORT: String(await freePort()),
				FLUSH_INTERVAL_MS: "20"
			}),
			[SigningService, ...PIPELINE_SERVICES, { name: "simulator", mixins: [ControllersMixin] }]
		);
		({ broker, pg } = node);
	});

	afterAll(async () => {
		await node?.stop();
	});

	it("all four controllers connect with their certificates and their datapoints are stored", async () => {
		const rows = await waitFor(
			async () => {
				const r = await pg.query(
					`SELECT d.mac, count(DISTINCT x.datapoint_id)::int AS datapoints, count(*)::int AS n
					 FROM decoded_data x JOIN devices d ON d.id = x.device_id GROUP BY d.mac ORDER BY d.mac`
				);
				return r.rows.length === 4 && r.rows.every(x => x.datapoints === 7 && x.n >= 21) ? r.rows : null;
			},
			30_000,
			"rows from the four controllers"
		);
		expect(rows.map((r: any) => r.mac)).toEqual([
			"aa:bb:cc:dd:ee:01",
			"aa:bb:cc:dd:ee:02",
			"aa:bb:cc:dd:ee:03",
			"aa:bb:cc:dd:ee:04"
		]);
		const status = await broker.call<any[]>("simulator.controllers");
		expect(status.every(c => c.connected && c.framesSent > 0)).toBe(true);
		const plausible = await pg.query(
			`SELECT count(*)::int AS n FROM decoded_data x JOIN datapoints p ON p.id = x.datapoint_id
			 WHERE p.label = 'temperature' AND (x.value < 10 OR x.value > 35)`
		);
		expect(plausible.rows[0].n).toBe(0);
		const stats = await broker.call<any>("pipeline-ingest.stats");
		expect((await broker.call<any>("pipeline-decode.stats")).deadLetters).toBe(0);
		expect(stats.broker.refusedConnect).toBe(0);
	});
});
