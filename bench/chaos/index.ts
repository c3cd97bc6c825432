/**
 * Chaos benchmark of the data path: per fault, datapoints sent, stored, lost, duplicated and
 * the time to recover (from the end of the fault until every datapoint published before it
 * ended is stored). Prints a table; asserts nothing. The scenarios are those of the e2e fault
 * tests (test/helpers/chaos-scenarios.ts), at full size:
 *
 *   npx tsx bench/chaos/index.ts [--datapoints 42000] [--interval-ms 20] [--fault-after-s 10]
 *        [--nats-outage-s 10] [--node-outage-s 15] [--only nats,nats-cluster,cloud-node,ingest-node,embedded-ingest]
 *
 * Each fault starts its own nats-server(s) and Mosquitto on free ports and its own database on
 * the loopback PostgreSQL; the pipeline nodes are OS processes started like `npm start`.
 */
import { FAULTS, runScenario, type FaultKind, type ScenarioResult } from "../../test/helpers/chaos-scenarios";
import { DATAPOINTS_PER_ITERATION } from "../../test/helpers/chaos";
import { requireServer } from "../../test/helpers/servers";

function arg(name: string, fallback: string): string {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main() {
	await requireServer("postgres");
	const datapoints = Number(arg("datapoints", "42000"));
	const intervalMs = Number(arg("interval-ms", "20"));
	const faultAfterS = Number(arg("fault-after-s", "10"));
	const natsOutageS = Number(arg("nats-outage-s", "10"));
	const nodeOutageS = Number(arg("node-outage-s", "15"));
	const only = arg("only", Object.keys(FAULTS).join(",")).split(",") as FaultKind[];
	const iterations = Math.ceil(datapoints / DATAPOINTS_PER_ITERATION);
	const rows: ScenarioResult[] = [];
	for (const fault of only) {
		const outageS = fault === "nats" ? natsOutageS : fault === "nats-cluster" ? 0 : nodeOutageS;
		const t0 = Date.now();
		const r = await runScenario(fault, {
			iterations,
			intervalMs,
			faultAfter: Math.round((faultAfterS * 1000) / intervalMs),
			faultMs: outageS * 1000,
			drainTimeoutMs: 300_000,
			log: line => console.log(`  ${line}`)
		});
		console.log(
			`  ${fault}: done in ${Math.round((Date.now() - t0) / 1000)} s ` +
				`${JSON.stringify({ ...r, exited: Object.keys(r.exited) })}`
		);
		rows.push(r);
	}
	console.log(
		`\n${iterations * DATAPOINTS_PER_ITERATION} datapoints per fault (${iterations} rounds of 8 QoS 1 ` +
			`frames, one every ${intervalMs} ms), fault ${faultAfterS} s into the stream\n`
	);
	console.log("| fault | sent | stored | lost | duplicated | time to recover | nodes exited |");
	console.log("| --- | --- | --- | --- | --- | --- | --- |");
	for (const r of rows) {
		const outage =
			r.fault === "nats" ? `${natsOutageS} s` : r.fault === "nats-cluster" ? "not restarted" : `${nodeOutageS} s`;
		const exited = Object.keys(r.exited);
		console.log(
			`| ${FAULTS[r.fault]} (${outage}) | ${r.sent} | ${r.stored} | ${r.lost} | ${r.duplicated} | ` +
				`${r.recoverMs == null ? "not recovered" : `${(r.recoverMs / 1000).toFixed(1)} s`} | ` +
				`${exited.length ? exited.join(", ") : "none"} |`
		);
	}
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
