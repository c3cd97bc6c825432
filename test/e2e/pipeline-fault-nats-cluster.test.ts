/**
 * Fault: the one named in FAULTS["nats-cluster"], mid-stream (see test/helpers/chaos-scenarios.ts).
 * Afterwards decoded_data holds exactly the datapoints of the published frames, none twice, and no node
 * exited that was not killed on purpose.
 */
import { describe, expect, it } from "vitest";
import { expectNothingLost } from "../helpers/chaos-expect";
import { FAULTS, runScenario } from "../helpers/chaos-scenarios";
import { requireServer } from "../helpers/servers";

describe(`data path fault: ${FAULTS["nats-cluster"]}`, () => {
	it("loses nothing, duplicates nothing, no node exits", async () => {
		await requireServer("postgres");
		const r = await runScenario("nats-cluster", { iterations: 150, intervalMs: 25, faultAfter: 50, faultMs: 3000 });
		expectNothingLost(r, 4200);
		// iot.raw, telemetry.readings (and the dead-letter channel), each with a copy on every server.
		expect(r.replicas!.length).toBeGreaterThanOrEqual(2);
		expect(new Set(r.replicas)).toEqual(new Set([3]));
	}, 180_000);
});
