/**
 * What every data-path fault test asserts of its scenario (test/helpers/chaos-scenarios.ts),
 * kept apart from the scenarios because bench/chaos runs them without vitest.
 */
import { expect } from "vitest";
import type { ScenarioResult } from "./chaos-scenarios";

/** The fault landed mid-stream, no node exited, and decoded_data holds every datapoint once. */
export function expectNothingLost(r: ScenarioResult, sent: number): void {
	// The fault landed mid-stream: frames were still to come.
	expect(r.publishedAtFault).toBeLessThan(r.sent);
	expect(r.exited).toEqual({});
	expect(r.sent).toBe(sent);
	expect(r.stored).toBe(r.sent);
	expect(r.duplicated).toBe(0);
	expect(r.incomplete).toBe(0);
	expect(r.recoverMs).not.toBeNull();
}
