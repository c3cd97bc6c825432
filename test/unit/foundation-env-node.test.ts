/** The node variables that moleculer.config.ts used to read itself, and the runner's SERVICES rules. */
import { describe, expect, it } from "vitest";
import { resolveServiceList } from "../../bin/service-list";
import { ServiceBroker } from "moleculer";
import { describeStartupError, parseSerializer, readEnv } from "../../services/shared/env";

const line = (vars: Record<string, string>) => {
	try {
		readEnv(vars);
		return "accepted";
	} catch (err) {
		return describeStartupError(err);
	}
};

describe("node variables", () => {
	it("refuses a bad LOGLEVEL, METRICS_PORT, TRACING, LOG_FORMAT, HOST, METRICS: one line names the variable", () => {
		expect(line({ LOGLEVEL: "bogus" })).toBe(
			"fleetmesh: cannot start: LOGLEVEL: 'bogus' is not one of fatal, error, warn, info, debug, trace"
		);
		expect(line({ METRICS_PORT: "abc" })).toBe(
			"fleetmesh: cannot start: METRICS_PORT: 'abc' is not a whole number"
		);
		expect(line({ TRACING: "Bogus" })).toMatch(
			/^fleetmesh: cannot start: TRACING: 'Bogus' is not one of Console, Event/
		);
		expect(line({ LOG_FORMAT: "xml" })).toMatch(/^fleetmesh: cannot start: LOG_FORMAT: /);
		expect(line({ HOST: "no such host!" })).toMatch(/^fleetmesh: cannot start: HOST: /);
		expect(line({ METRICS: "maybe" })).toMatch(/^fleetmesh: cannot start: METRICS: /);
		expect(line({ CHANNELS_REPLICAS: "0" })).toMatch(/^fleetmesh: cannot start: CHANNELS_REPLICAS: /);
		expect(line({ MQTT_MAX_PACKET_BYTES: "12x" })).toMatch(/^fleetmesh: cannot start: MQTT_MAX_PACKET_BYTES: /);
	});

	it("SERIALIZER: JSON by default, a Moleculer serializer by name, one line for a bad or uninstalled one", () => {
		expect(readEnv({}).serializer).toBe("JSON");
		expect(readEnv({ SERIALIZER: "json" }).serializer).toBe("JSON");
		// The binary serializers' packages are devDependencies (bench/mesh measures them).
		expect(readEnv({ SERIALIZER: "msgpack" }).serializer).toBe("MsgPack");
		expect(readEnv({ SERIALIZER: "cbor" }).serializer).toBe("CBOR");
		expect(line({ SERIALIZER: "protobuf" })).toBe(
			"fleetmesh: cannot start: SERIALIZER: 'protobuf' is not one of JSON, MsgPack, Notepack, CBOR"
		);
		// An install without devDependencies: the package Moleculer would require is not found.
		const notInstalled = (pkg: string): string => {
			throw new Error(`Cannot find module '${pkg}'`);
		};
		expect(() => parseSerializer({ SERIALIZER: "Notepack" }, notInstalled)).toThrow(
			"Notepack needs the 'notepack.io' package (npm install notepack.io), which is not installed"
		);
		expect(() => parseSerializer({ SERIALIZER: "MsgPack" }, notInstalled)).toThrow(/'msgpack5' package/);
		// What the check resolves is what Moleculer loads: a broker starts with each of them.
		for (const s of ["MsgPack", "Notepack", "CBOR"]) {
			const broker = new ServiceBroker({ logger: false, serializer: s as "JSON" });
			expect(broker.serializer?.constructor.name).toMatch(new RegExp(s, "i"));
		}
	});

	it("reads good values and defaults", () => {
		const d = readEnv({});
		expect(d).toMatchObject({
			logLevel: "info",
			logFormat: null,
			metrics: true,
			metricsPort: null,
			tracing: null,
			host: "0.0.0.0",
			channelsReplicas: 1,
			mqttMaxPacketBytes: 262_144,
			pipelineStages: null
		});
		const e = readEnv({
			LOGLEVEL: "DEBUG",
			LOG_FORMAT: "short",
			METRICS: "0",
			METRICS_PORT: "9100",
			TRACING: "Console",
			HOST: "127.0.0.1",
			CHANNELS_REPLICAS: "3"
		});
		expect(e).toMatchObject({
			logLevel: "debug",
			logFormat: "short",
			metrics: false,
			metricsPort: 9100,
			tracing: "Console",
			host: "127.0.0.1",
			channelsReplicas: 3
		});
	});

	it("gives the ingest a client id that survives a restart when NODEID is set", () => {
		expect(readEnv({ NODEID: "cloud-1" }).mqttClientId).toBe("fleetmesh-ingest-cloud-1");
		expect(readEnv({ NODEID: "cloud-1", MQTT_CLIENT_ID: "mine" }).mqttClientId).toBe("mine");
		expect(readEnv({}).mqttClientId).toBeNull();
	});
});

describe("SERVICES for the runner", () => {
	it("pipeline selects the three stage services", () => {
		expect(resolveServiceList(["signing", "pipeline"], null, "**/*.service.ts")).toEqual({
			services: "signing,pipeline-ingest,pipeline-decode,pipeline-sink",
			warnings: []
		});
		expect(resolveServiceList(null, null, "**/*.service.ts")).toEqual({ services: null, warnings: [] });
		expect(resolveServiceList(["pipeline-sink"], null, "**/*.service.ts").services).toBe("pipeline-sink");
	});

	it("PIPELINE_STAGES still narrows the stages, with a deprecation line", () => {
		const r = resolveServiceList(["pipeline"], ["sink"], "**/*.service.ts");
		expect(r.services).toBe("pipeline-sink");
		expect(r.warnings).toEqual([expect.stringMatching(/^PIPELINE_STAGES is deprecated .*SERVICES=pipeline-sink/)]);
		expect(resolveServiceList(null, ["ingest", "decode"], "**/*.service.ts").services).toBe(
			"**/*.service.ts,!pipeline-sink"
		);
		expect(readEnv({ PIPELINE_STAGES: "sink,decode" }).pipelineStages).toEqual(["sink", "decode"]);
	});
});
