/** Event bursts are queued, not dropped by the action bulkhead (see mixins/event-bulkhead.middleware.ts). */
import { afterAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { createTestBroker, uniqueNamespace, waitFor } from "../helpers/broker";

let broker: ServiceBroker;
afterAll(() => broker?.stop());

describe("events under a burst", () => {
	it("delivers every event of a burst to a slow handler", async () => {
		let handled = 0;
		broker = createTestBroker({
			namespace: uniqueNamespace("events"),
			env: { BULKHEAD_QUEUE: "100" },
			services: [
				{
					name: "slow",
					events: {
						async "device.status"() {
							await new Promise(r => setTimeout(r, 1));
							handled++;
						}
					},
					actions: {
						// Actions keep their bulkhead: 10 running + BULKHEAD_QUEUE (100) queued, the rest refused at
						// once.
						async work() {
							await new Promise(r => setTimeout(r, 50));
							return true;
						}
					}
				}
			]
		});
		await broker.start();
		for (let i = 0; i < 2000; i++) broker.emit("device.status", { deviceId: 1, status: "streaming", i });
		await waitFor(() => handled === 2000, 20_000, "all 2000 events");
		expect(handled).toBe(2000);

		const results = await Promise.allSettled(
			Array.from({ length: 150 }, () => broker.call("slow.work", {}, { retries: 0 }))
		);
		const refused = results.filter(r => r.status === "rejected").map(r => (r as PromiseRejectedResult).reason);
		expect(refused.length).toBe(40);
		expect(refused[0]).toMatchObject({ code: 429, type: "QUEUE_FULL" });
	});
});
