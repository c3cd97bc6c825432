/**
 * The MQTT client id of this ingest instance. A persistent session is found again by its client
 * id, so it must not change when the instance restarts (NODEID defaults to hostname-pid, which
 * does): MQTT_CLIENT_ID, else `<namespace>-ingest-<NODEID>` when NODEID is set, else an id
 * generated once and kept in DATA_DIR.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { FleetEnv } from "../shared/env";

export function ingestClientId(env: Pick<FleetEnv, "mqttClientId" | "dataDir" | "namespace">): string {
	if (env.mqttClientId) return env.mqttClientId;
	const file = path.join(env.dataDir, "mqtt-ingest-client-id");
	try {
		const kept = fs.readFileSync(file, "utf8").trim();
		if (kept) return kept;
	} catch {
		// first start: generated below
	}
	const id = `${env.namespace}-ingest-${crypto.randomBytes(6).toString("hex")}`.slice(0, 64);
	fs.mkdirSync(env.dataDir, { recursive: true });
	fs.writeFileSync(file, `${id}\n`);
	return id;
}
