import { describe, expect, it } from "vitest";
import { ConfigError, describeStartupError, parseTransporter, readEnv, redact } from "../../services/shared/env";
import { errorMessage } from "../../services/shared/error-message";

describe("environment parsing", () => {
	it("gives the embedded defaults when nothing is set", () => {
		const env = readEnv({});
		expect(env.transporter).toEqual({ kind: "none" });
		expect(env.databaseUrl).toBeNull();
		expect(env.redisUrl).toBeNull();
		expect(env.port).toBe(3000);
		expect(env.services).toBeNull();
		// The all-in-one start shows virtual devices; a node with a service list does not by default.
		expect(env.simulate).toBe(true);
		expect(env.ingestMaxBuffered).toBe(200_000);
		expect(readEnv({ SERVICES: "detector,processor" }).simulate).toBe(false);
		expect(readEnv({ SERVICES: "detector", SIMULATE: "1" }).simulate).toBe(true);
	});

	it("reads transporters: none, TCP, NATS (one or several servers)", () => {
		expect(parseTransporter({ TRANSPORTER: "tcp" })).toEqual({ kind: "TCP" });
		expect(parseTransporter({ TRANSPORTER: "nats://10.0.0.5:4222" })).toEqual({
			kind: "NATS",
			url: "nats://10.0.0.5:4222"
		});
		expect(parseTransporter({ TRANSPORTER: "nats://a:4222,nats://b:4222" })).toMatchObject({ kind: "NATS" });
		expect(parseTransporter({ TRANSPORTER: "  " })).toEqual({ kind: "none" });
	});

	it.each([
		["TRANSPORTER", { TRANSPORTER: "redis://x" }],
		["TRANSPORTER", { TRANSPORTER: "nats://" }],
		["DATABASE_URL", { DATABASE_URL: "not a url" }],
		["DATABASE_URL", { DATABASE_URL: "mysql://h/db" }],
		["REDIS_URL", { REDIS_URL: "http://h" }],
		["MQTT_URL", { MQTT_URL: "ftp://h" }],
		["PORT", { PORT: "70000" }],
		["PORT", { PORT: "3k" }],
		["SIMULATE", { SIMULATE: "maybe" }],
		["SERVICES", { SERVICES: "detector,Bad Name" }],
		["INGEST_MAX_BUFFERED", { INGEST_MAX_BUFFERED: "5" }]
	])("names %s when its value is bad", (variable, env) => {
		let err: unknown;
		try {
			readEnv(env as Record<string, string>);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ConfigError);
		expect((err as ConfigError).variable).toBe(variable);
		expect(describeStartupError(err)).toMatch(new RegExp(`^fleetmesh: cannot start: ${variable}: `));
		expect(describeStartupError(err)).not.toContain("\n");
	});

	it("never prints a password", () => {
		expect(redact("postgres://fleet:s3cret@db:5432/x")).toBe("postgres://fleet:***@db:5432/x");
		let message = "";
		try {
			readEnv({ DATABASE_URL: "mysql://fleet:s3cret@db/x" });
		} catch (e) {
			message = errorMessage(e);
		}
		expect(message).toContain("DATABASE_URL");
		expect(message).not.toContain("s3cret");
	});
});
