/**
 * The sink's warm-up of its own code at start: a synthetic telemetry.readings message through
 * what `store` runs on each one (unpack, check, rows) and the binary COPY encoding, discarded.
 * The database side is warmUpWrites (shared/pipeline/storage.ts).
 */
import { INT32_MAX } from "../shared/params";
import { packReadings, readingsOf, type Reading } from "../shared/contracts";
import { copyBinary, readingProblem, toRow, type Row } from "../shared/pipeline/storage";

/** Decodes `rounds` synthetic messages of `readings` readings; returns the rows made (all discarded). */
export function warmUpStore(rounds = 10, readings = 1000): number {
	let made = 0;
	for (let r = 0; r < rounds; r++) {
		const now = Date.now();
		const batch: Reading[] = [];
		// Ids no registered device or datapoint has (serials never reach INT4's maximum).
		for (let i = 0; i < readings; i++)
			batch.push({ deviceId: INT32_MAX, datapointId: INT32_MAX, value: i, ts: now - i });
		const rows: Row[] = [];
		for (const reading of readingsOf(JSON.parse(JSON.stringify(packReadings(batch))))) {
			const problem = readingProblem(reading);
			if (problem) throw new Error(`warm-up reading refused: ${problem}`);
			rows.push(toRow(reading as Reading));
		}
		made += copyBinary(rows).length > 0 ? rows.length : 0;
	}
	return made;
}
