/**
 * The device registry through the gateway (the HTTP routes of docs/devices.md, token required) and
 * through the broker, on real PostgreSQL; per-device overrides reopen a running device.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import DetectorService from "../../services/detector/detector.service";
import ManagerService from "../../services/manager/manager.service";
import ProcessorService from "../../services/processor/processor.service";
import SimulatorService from "../../services/simulator/simulator.service";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let db: TestDatabase;
let node: GatewayNode;
let token: string;

beforeAll(async () => {
	db = await createTestDatabase("devices_registry");
	node = await startGatewayNode({
		namespace: uniqueNamespace("devices-reg"),
		nodeID: "hub",
		env: { DATABASE_URL: db.url, DETECTOR_SOURCE: "simulated", SIMULATE: "0" },
		extra: [ManagerService, DetectorService, ProcessorService, SimulatorService]
	});
	token = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
	await waitFor(
		async () => (await api(node.url, "GET", "/api/profiles", undefined, token)).status === 200,
		15_000,
		"manager routes"
	);
});

afterAll(async () => {
	await node?.stop();
	await db?.drop();
});

describe("device registry over HTTP", () => {
	it("CRUD, status and events with the documented errors", async () => {
		expect((await api(node.url, "GET", "/api/devices")).status).toBe(401);
		const created = await api(
			node.url,
			"POST",
			"/api/devices",
			{ name: "Boiler controller", type: "controller", mac: "02:00:5E:10:00:01", config: { timeout: 10 } },
			token
		);
		// A create answers 201 with the resource and its location.
		if (created.status !== 201) throw new Error(JSON.stringify(created.body));
		expect(created.body).toMatchObject({
			name: "Boiler controller",
			type: "controller",
			mac: "02:00:5e:10:00:01",
			status: "detected",
			owner: expect.any(Number),
			nameAuto: false,
			createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/)
		});
		const id = created.body.id;
		expect(
			(await api(node.url, "POST", "/api/devices", { name: "Twin", mac: "02:00:5e:10:00:01" }, token)).status
		).toBe(409);
		expect(
			(await api(node.url, "POST", "/api/devices", { name: "x", config: { buffer_size: "big" } }, token)).status
		).toBe(422);
		// Bodies are camelCase and strict: the old column name is refused, naming it.
		const old = await api(node.url, "POST", "/api/devices", { name: "Old", node_id: "pi" }, token);
		expect(old.status).toBe(422);
		expect(old.body.data[0]).toMatchObject({ type: "objectStrict", actual: "node_id" });
		expect(old.body.message).toMatch(/Unknown field\(s\) node_id; allowed: .*nodeID/);
		const invalid = await api(node.url, "POST", "/api/devices", { mac: "not-a-mac" }, token);
		expect(invalid.status).toBe(422);
		expect(invalid.body.type).toBe("VALIDATION_ERROR");

		expect((await api(node.url, "GET", `/api/devices/${id}`, undefined, token)).body.name).toBe(
			"Boiler controller"
		);
		const missing = await api(node.url, "GET", "/api/devices/999999", undefined, token);
		expect(missing.status).toBe(404);
		expect(missing.body.type).toBe("NOT_FOUND");
		const list = await api(node.url, "GET", "/api/devices?type=controller", undefined, token);
		expect(list.body.items.map((d: any) => d.id)).toEqual([id]);
		expect(list.body.nextCursor).toBeNull();

		const updated = await api(
			node.url,
			"PUT",
			`/api/devices/${id}`,
			{ name: "Boiler", config: { timeout: 20 } },
			token
		);
		expect(updated.body).toMatchObject({ name: "Boiler", nameAuto: false, config: { timeout: 20 } });
		expect(
			(
				await api(
					node.url,
					"POST",
					`/api/devices/${id}/events`,
					{ type: "maintenance", data: { by: "tech" } },
					token
				)
			).status
		).toBe(200);
		const status = await api(node.url, "GET", `/api/devices/${id}/status`, undefined, token);
		expect(status.body.status).toBe("detected");
		expect(status.body.events.map((e: any) => e.type)).toEqual(["maintenance", "updated", "created"]);

		const profiles = await api(node.url, "GET", "/api/profiles", undefined, token);
		expect(profiles.body.errors).toEqual([]);
		expect(profiles.body.items.find((p: any) => p.name === "Arduino Uno")).toMatchObject({
			protocol: "line",
			interface: "uart",
			file: "arduino-uno.yaml"
		});

		expect((await api(node.url, "DELETE", `/api/devices/${id}`, undefined, token)).status).toBe(200);
		expect((await api(node.url, "GET", `/api/devices/${id}`, undefined, token)).status).toBe(404);
	});

	it("per-device overrides are merged over the profile and reopen a running device", async () => {
		// Plugging a simulated device over HTTP is for administrators (the token here is the admin's).
		expect(
			(await api(node.url, "POST", "/api/simulator/devices/plug", { kind: "arduino-uno", id: "uno" })).status
		).toBe(401);
		const plugged = await api(
			node.url,
			"POST",
			"/api/simulator/devices/plug",
			{ kind: "arduino-uno", id: "uno", serial: "UNO-REG", rateHz: 10, lines: ["temperature:20"] },
			token
		);
		expect(plugged.status).toBe(200);
		expect(
			(await api(node.url, "GET", "/api/simulator/devices", undefined, token)).body.map((d: any) => d.id)
		).toContain("uno");
		const dev = await waitFor(
			async () => {
				const l = await api(node.url, "GET", "/api/devices?status=streaming", undefined, token);
				return l.body.items?.find?.((d: any) => d.serial === "UNO-REG");
			},
			15_000,
			"streaming Arduino"
		);
		const session = async () =>
			(await node.broker.call<any, any>("processor.list", {}, { nodeID: "hub" })).devices.find(
				(d: any) => d.deviceId === dev.id
			);
		expect(await session()).toMatchObject({
			baudrate: 9600,
			config: { timeout: 5, buffer_size: 1024, auto_reconnect: true }
		});
		await api(node.url, "PUT", `/api/devices/${dev.id}`, { config: { baudrate: 19200, timeout: 2 } }, token);
		await waitFor(async () => (await session())?.baudrate === 19200, 10_000, "reopened with the override");
		expect((await session()).config).toMatchObject({ timeout: 2, buffer_size: 1024 });
		await waitFor(async () => (await session())?.status === "streaming", 10_000, "streaming again");
		expect((await api(node.url, "POST", "/api/simulator/devices/unplug", { id: "uno" }, token)).status).toBe(200);
		expect((await api(node.url, "POST", "/api/simulator/devices/unplug", { id: "uno" }, token)).status).toBe(404);
	});
});
