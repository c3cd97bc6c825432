/**
 * Connecting a real MQTT controller as the README tells a user to: the README's own shell block
 * is run with bash against a node started as `npm start` starts one (PGlite, the default; and
 * PostgreSQL). It registers the controller over HTTP, its sensors and decoding over HTTP, makes a
 * key and CSR with openssl, has the node's CA sign it, and publishes a real frame with the
 * `mosquitto_pub` binary to the node's mTLS listener; the decoded values are read back from
 * `GET /api/monitoring/data`. Then: a changed decoding is used without a restart, bad decodings
 * are 422 naming field, value and what is allowed, and a frame of an unregistered sensor is a
 * dead letter with the reason.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ROOT, startNode, type NodeProcess } from "../helpers/node-process";
import { freePort } from "../helpers/ports";

const run = promisify(execFile);
const ADMIN_EMAIL = "admin@fleetmesh.local";
const ADMIN_PASSWORD = "Juniper-lantern-4471";
const MAC = "02:00:5e:10:00:01";
const CN = "f2-02005e100001";

/** The shell block of README.md that follows the marker naming this test. */
function readmeBlock(): string {
	const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
	const at = readme.indexOf("<!-- run by test/e2e/pipeline-controller-api.test.ts -->");
	expect(at, "README has the marked controller block").toBeGreaterThan(0);
	const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
	return m![1];
}

async function api(url: string, method: string, p: string, token?: string, body?: unknown) {
	const res = await fetch(url + p, {
		method,
		headers: {
			...(body !== undefined ? { "content-type": "application/json" } : {}),
			...(token ? { authorization: `Bearer ${token}` } : {})
		},
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

for (const backend of ["pglite", "postgres"] as const) {
	describe(`a real MQTT controller, registered over HTTP (${backend})`, () => {
		let node: NodeProcess;
		let db: TestDatabase | undefined;
		let url: string;
		let mqttsPort: number;
		let token: string;
		const work = tempDir("controller-api");

		beforeAll(async () => {
			const port = await freePort();
			mqttsPort = await freePort();
			url = `http://127.0.0.1:${port}`;
			if (backend === "postgres") db = await createTestDatabase("controller_api");
			node = startNode({
				NAMESPACE: uniqueNamespace("controller-api"),
				NODEID: `controller-api-${backend}`,
				PORT: String(port),
				HOST: "127.0.0.1",
				DATA_DIR: tempDir("controller-api-data"),
				...(db ? { DATABASE_URL: db.url } : {}),
				ADMIN_EMAIL,
				ADMIN_PASSWORD,
				SIMULATE: "0",
				MQTT_PORT: "0",
				MQTTS_PORT: String(mqttsPort),
				LOGLEVEL: "warn"
			});
			// Ready: every listener serves (the mTLS one once signing gave it its certificate).
			await waitFor(
				async () => (await fetch(`${url}/ready`).catch(() => null))?.status === 200,
				90_000,
				"/ready"
			);
			token = (
				await api(url, "POST", "/api/users/auth", undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
			).body.access_token;
		}, 120_000);

		afterAll(async () => {
			await node?.kill("SIGTERM");
			await db?.drop();
		});

		it("the README's commands register it, sign its CSR, publish over mTLS; the values are decoded", async () => {
			const script = readmeBlock()
				.replaceAll("http://localhost:3000", url)
				.replaceAll("-p 8883", `-p ${mqttsPort}`)
				.replaceAll("<password>", ADMIN_PASSWORD);
			const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], { cwd: work, timeout: 60_000 });
			// The key never left the directory it was made in; the certificate is the controller's.
			expect(fs.readFileSync(path.join(work, "f2.key"), "utf8")).toMatch(/PRIVATE KEY/);
			const { stdout: subject } = await run("openssl", ["x509", "-in", "f2.crt", "-noout", "-subject"], {
				cwd: work
			});
			expect(subject).toContain(CN);

			const devices = await api(url, "GET", "/api/devices?limit=1000", token);
			const device = devices.body.items.find((d: any) => d.mac === MAC);
			expect(device, JSON.stringify(devices.body)).toBeDefined();
			const sensors = await api(url, "GET", `/api/devices/${device.id}/sensors`, token);
			expect(sensors.status).toBe(200);
			expect(sensors.body.items).toHaveLength(1);
			expect(sensors.body.items[0]).toMatchObject({ sensor: 1, name: "environment", frameLength: 6 });
			expect(sensors.body.items[0].datapoints.map((d: any) => [d.label, d.offset, d.type, d.scale])).toEqual([
				["temperature", 0, "int16be", 0.01],
				["humidity", 2, "uint16be", 0.01],
				["co2", 4, "uint16be", 1]
			]);

			const values = await waitFor(
				async () => {
					const r = await api(url, "GET", `/api/monitoring/data?device=${device.id}&from=-10m`, token);
					const byLabel = Object.fromEntries((r.body?.items ?? []).map((i: any) => [i.datapoint, i.value]));
					return Object.keys(byLabel).length === 3 ? byLabel : null;
				},
				20_000,
				`decoded values (script output: ${stdout.slice(-500)})`
			);
			expect(values).toEqual({ temperature: 21.5, humidity: 45, co2: 612 });
		}, 90_000);

		it("a changed decoding is used by the running decoder, without a restart", async () => {
			const device = (await api(url, "GET", "/api/devices?limit=1000", token)).body.items.find(
				(d: any) => d.mac === MAC
			);
			const put = await api(url, "PUT", `/api/devices/${device.id}/sensors`, token, {
				sensors: [
					{
						sensor: 1,
						name: "environment",
						frameLength: 6,
						datapoints: [
							{ label: "temperature", unit: "°C", offset: 0, type: "int16be", scale: 0.01 },
							{ label: "humidity", offset: 2, type: "uint16be", scale: 0.01 },
							// Recalibrated: 2 ppm per count, 10 ppm offset.
							{ label: "co2", offset: 4, type: "uint16be", scale: 2, add: 10 }
						]
					}
				]
			});
			expect(put.status, JSON.stringify(put.body)).toBe(200);
			expect(put.body.items[0].datapoints[2]).toMatchObject({ label: "co2", unit: "ppm", scale: 2, add: 10 });
			const ts = Date.now() + 1000; // newer than the README's frame (epoch seconds)
			await publish(
				`stat/${CN}/sensor-mode/normal/sensor-1`,
				JSON.stringify({ timestamp: ts, data: "086611940100" })
			);
			const co2 = await waitFor(
				async () => {
					const r = await api(
						url,
						"GET",
						`/api/monitoring/data?device=${device.id}&datapoint=co2&from=-10m`,
						token
					);
					return r.body?.items?.find((i: any) => Date.parse(i.ts) === ts)?.value;
				},
				20_000,
				"the reading decoded with the new scale"
			);
			expect(co2).toBe(256 * 2 + 10);
		}, 60_000);

		it("a frame of a sensor that is not registered is a dead letter with the reason", async () => {
			const topic = `stat/${CN}/sensor-mode/normal/sensor-7`;
			await publish(topic, JSON.stringify({ timestamp: Date.now(), data: "0102" }));
			const letter = await waitFor(
				async () => {
					const r = await api(url, "GET", "/api/pipeline/dead-letters?reason=UNKNOWN_SENSOR", token);
					return r.body?.items?.find((l: any) => l.topic === topic);
				},
				20_000,
				"the dead letter"
			);
			const device = (await api(url, "GET", "/api/devices?limit=1000", token)).body.items.find(
				(d: any) => d.mac === MAC
			);
			expect(letter.reason).toBe(
				`UNKNOWN_SENSOR: controller 02:00:5e:10:00:01 has no sensor 7 in its metadata ` +
					`(register it: PUT /api/devices/${device.id}/sensors)`
			);
		}, 60_000);

		it("refuses a decoding that cannot be read: 422 naming field, value and what is allowed", async () => {
			const device = (await api(url, "GET", "/api/devices?limit=1000", token)).body.items.find(
				(d: any) => d.mac === MAC
			);
			const put = (datapoints: unknown[], frameLength = 6) =>
				api(url, "PUT", `/api/devices/${device.id}/sensors`, token, {
					sensors: [{ sensor: 1, name: "environment", frameLength, datapoints }]
				});
			const past = await put([{ label: "co2", offset: 5, type: "uint16be" }]);
			expect(past.status).toBe(422);
			expect(past.body.message).toContain("'sensors[0].datapoints[0].offset' field 5");
			expect(past.body.message).toContain("offset must be 0..4");
			expect(past.body.data[0]).toMatchObject({
				field: "sensors[0].datapoints[0].offset",
				actual: 5,
				expected: "0..4"
			});

			const unknownType = await put([{ label: "co2", offset: 0, type: "uint24be" }]);
			expect(unknownType.status).toBe(422);
			expect(unknownType.body.message).toMatch(
				/sensors\[0\]\.datapoints\[0\]\.type.*int8, uint8, .*float64le.*uint24be/
			);

			const dup = await put([
				{ label: "co2", offset: 0, type: "uint16be" },
				{ label: "CO2", offset: 2, type: "uint16be" }
			]);
			expect(dup.status).toBe(422);
			expect(dup.body.data[0]).toMatchObject({ field: "sensors[0].datapoints[1].label", actual: "CO2" });

			const unknownField = await api(url, "PUT", `/api/devices/${device.id}/sensors`, token, {
				sensors: [{ sensor: 1, name: "x", frameLength: 6, datapoints: [], lenght: 6 }]
			});
			expect(unknownField.status).toBe(422);

			// Nothing of the refused bodies was stored.
			const after = await api(url, "GET", `/api/devices/${device.id}/sensors`, token);
			expect(after.body.items[0].datapoints.map((d: any) => d.label)).toEqual(["temperature", "humidity", "co2"]);
		});

		it("adds, replaces, reads and removes one sensor under /sensors/:sensor", async () => {
			const device = (await api(url, "GET", "/api/devices?limit=1000", token)).body.items.find(
				(d: any) => d.mac === MAC
			);
			const one = `/api/devices/${device.id}/sensors/2`;
			const body = (scale: number) => ({
				name: "power",
				frameLength: 4,
				datapoints: [{ label: "voltage", unit: "V", offset: 0, type: "uint16be", scale }]
			});
			const created = await api(url, "PUT", one, token, body(0.1));
			expect(created.status, JSON.stringify(created.body)).toBe(201);
			expect(created.body).toMatchObject({
				sensor: 2,
				frameLength: 4,
				datapoints: [{ label: "voltage", scale: 0.1 }]
			});
			const replaced = await api(url, "PUT", one, token, body(0.01));
			expect(replaced.status).toBe(200);
			expect((await api(url, "GET", one, token)).body.datapoints[0].scale).toBe(0.01);
			// Sensor 1 is untouched by a change of sensor 2.
			const all = (await api(url, "GET", `/api/devices/${device.id}/sensors`, token)).body.items;
			expect(all.map((s: any) => [s.sensor, s.datapoints.length])).toEqual([
				[1, 3],
				[2, 1]
			]);

			// A label of another sensor of the controller: 422 naming the field of this body.
			const dup = await api(url, "PUT", one, token, {
				...body(1),
				datapoints: [{ label: "humidity", offset: 0, type: "uint16be" }]
			});
			expect(dup.status).toBe(422);
			expect(dup.body.data[0]).toMatchObject({ field: "datapoints[0].label", actual: "humidity" });
			expect(dup.body.message).toContain("already used by (sensor 1) datapoints[1]");
			const big = await api(url, "PUT", `/api/devices/${device.id}/sensors/10000`, token, body(1));
			expect(big.status).toBe(422);
			expect(big.body.message).toContain("at most 9999 (got 10000)");

			const removed = await api(url, "DELETE", one, token);
			expect(removed).toMatchObject({ status: 200, body: { sensor: 2, deleted: true } });
			expect((await api(url, "GET", one, token)).status).toBe(404);
			expect((await api(url, "DELETE", one, token)).status).toBe(404);
			// Its frames are now dead letters.
			const topic = `stat/${CN}/sensor-mode/normal/sensor-2`;
			await publish(topic, JSON.stringify({ timestamp: Date.now(), data: "00ff" }));
			await waitFor(
				async () =>
					(
						await api(url, "GET", "/api/pipeline/dead-letters?reason=UNKNOWN_SENSOR", token)
					).body?.items?.some((l: any) => l.topic === topic),
				20_000,
				"the removed sensor's frame as a dead letter"
			);
		}, 60_000);

		it("is the owner's or an administrator's: another user gets 404, no token 401", async () => {
			const device = (await api(url, "GET", "/api/devices?limit=1000", token)).body.items.find(
				(d: any) => d.mac === MAC
			);
			const add = await api(url, "POST", "/api/users/add", token, {
				email: `other-${backend}@example.com`,
				password: "Other-user-pass-9981"
			});
			expect(add.status, JSON.stringify(add.body)).toBe(201);
			const other = (
				await api(url, "POST", "/api/users/auth", undefined, {
					email: `other-${backend}@example.com`,
					password: "Other-user-pass-9981"
				})
			).body.access_token;
			expect((await api(url, "GET", `/api/devices/${device.id}/sensors`, other)).status).toBe(404);
			expect((await api(url, "PUT", `/api/devices/${device.id}/sensors`, other, { sensors: [] })).status).toBe(
				404
			);
			expect((await api(url, "GET", `/api/devices/${device.id}/sensors`)).status).toBe(401);
			// A user registers the sensors of its own controller.
			const own = await api(url, "POST", "/api/devices", other, {
				name: "Own controller",
				mac: "02:00:5e:10:00:02"
			});
			expect(own.status, JSON.stringify(own.body)).toBe(201);
			const mine = await api(url, "PUT", `/api/devices/${own.body.id}/sensors`, other, {
				sensors: [
					{
						sensor: 3,
						name: "level",
						frameLength: 2,
						datapoints: [{ label: "level", offset: 0, type: "uint16le" }]
					}
				]
			});
			expect(mine.status, JSON.stringify(mine.body)).toBe(200);
			expect(mine.body.items[0].datapoints[0]).toMatchObject({
				label: "level",
				type: "uint16le",
				scale: 1,
				add: 0
			});
		});

		/** A frame as the controller sends it: mosquitto_pub with the controller's key and certificate. */
		async function publish(topic: string, message: string) {
			await run(
				"mosquitto_pub",
				[
					...["-h", "localhost", "-p", String(mqttsPort), "-q", "1"],
					...["--cafile", "ca.crt", "--cert", "f2.crt", "--key", "f2.key"],
					...["-t", topic, "-m", message]
				],
				{ cwd: work, timeout: 15_000 }
			);
		}
	});
}
