/**
 * Fault: the one named in FAULTS["embedded-ingest"], mid-stream (see test/helpers/chaos-scenarios.ts).
 * Afterwards decoded_data holds exactly the datapoints of the published frames, none twice, and no node
 * exited that was not killed on purpose.
 */
import { describe, it } from "vitest";
import { expectNothingLost } from "../helpers/chaos-expect";
import { FAULTS, runScenario } from "../helpers/chaos-scenarios";
import { requireServer } from "../helpers/servers";

describe(`data path fault: ${FAULTS["embedded-ingest"]}`, () => {
	it("loses nothing, duplicates nothing, no node exits", async () => {
		await requireServer("postgres");
		// The publisher drains its own offline backlog through one connection after the restart,
		// which is slow on a loaded machine: a generous bound (this catches loss, not slowness).
		const r = await runScenario("embedded-ingest", {
			iterations: 150,
			intervalMs: 25,
			faultAfter: 50,
			faultMs: 3000,
			drainTimeoutMs: 150_000
		});
		expectNothingLost(r, 4200);
	}, 240_000);
});
