/**
 * Input bounds over HTTP on every published route of the core services (real gateway, signing,
 * manager, monitoring, pipeline, automation on PostgreSQL): an id past 2^31−1, a string with a
 * NUL byte and a JSON body nested 100,000 deep are a 4xx (422/413/404), never a 5xx. The routes
 * are read from the services' own action definitions, so a route added later is covered too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import AutomationService from "../../services/automation/automation.service";
import ManagerService from "../../services/manager/manager.service";
import MonitoringService from "../../services/monitoring/monitoring.service";
import PipelineDecodeService from "../../services/pipeline-decode/pipeline-decode.service";
import { inputProblem } from "../../mixins/input-bounds.middleware";
import { uniqueNamespace, waitFor } from "../helpers/broker";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { ADMIN_EMAIL, ADMIN_PASSWORD, api, login, startGatewayNode, type GatewayNode } from "./signing-support";

let pg: TestDatabase;
let node: GatewayNode;
let admin: string;

interface Route {
	method: string;
	path: string;
	params: Record<string, any>;
}

function routes(): Route[] {
	const out: Route[] = [];
	const list = node.broker.registry.getActionList({ onlyLocal: true, skipInternal: true }) as Array<{
		name: string;
		action: { rest?: unknown; params?: Record<string, any> };
	}>;
	for (const { name, action } of list) {
		if (typeof action.rest !== "string") continue;
		const [method, p] = action.rest.split(/\s+/);
		const service = node.broker.getLocalService(name.split(".")[0]) as unknown as { settings: { rest?: string } };
		const base = service.settings.rest ?? `/${name.split(".")[0]}`;
		out.push({
			method,
			path: `/api/${base}/${p}`.replace(/\/+/g, "/").replace(/\/$/, ""),
			params: action.params ?? {}
		});
	}
	return out;
}

const deepBody = `{"a":${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}}`;

beforeAll(async () => {
	pg = await createTestDatabase("trust_input");
	node = await startGatewayNode({
		namespace: uniqueNamespace("trust-input"),
		env: { DATABASE_URL: pg.url, SIMULATE: "0" },
		extra: [ManagerService, MonitoringService, PipelineDecodeService, AutomationService]
	});
	admin = await login(node.url, ADMIN_EMAIL, ADMIN_PASSWORD);
	await waitFor(
		async () => (await api(node.url, "GET", "/api/devices", undefined, admin)).status === 200,
		15_000,
		"manager routes"
	);
	// One real device so that an id that exists is also tried.
	await api(node.url, "POST", "/api/devices", { name: "Fuzz target" }, admin);
});

afterAll(async () => {
	await node?.stop();
	await pg?.drop();
});

describe("input bounds on every route", () => {
	it("the check itself: NUL in values and keys, depth, without recursion", () => {
		expect(inputProblem({ a: "x\u0000" })).toMatchObject({ field: "a" });
		expect(inputProblem({ ["k\u0000"]: 1 })).toMatchObject({ field: "k\u0000" });
		expect(inputProblem(JSON.parse(deepBody))).toMatchObject({ message: expect.stringMatching(/deeper than 32/) });
		expect(inputProblem({ a: [{ b: "fine" }], n: 1 })).toBeNull();
	});

	it("an int32 overflow, a NUL byte and deep JSON are a 4xx on every route, never a 5xx", async () => {
		const all = routes();
		expect(all.length).toBeGreaterThan(25);
		const failures: string[] = [];
		const tried: string[] = [];
		// A 5xx is always wrong; a 2xx only for a number that is not an id (an offset past the end is just an empty
		// page).
		const check = async (method: string, path: string, body: unknown, what: string, mayPass = false) => {
			const r = await api(node.url, method, path, body, admin);
			tried.push(`${what} ${method} ${path}`);
			if (r.status >= 500 || (r.status < 400 && !mayPass))
				failures.push(`${what}: ${method} ${path} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
		};
		for (const r of all) {
			const pathParams = [...r.path.matchAll(/:(\w+)/g)].map(m => m[1]);
			const withPath = (v: string) => r.path.replace(/:(\w+)/g, () => v);
			const bodyRoute = !["GET", "DELETE", "HEAD"].includes(r.method);
			// Every path id past int32, and the one id that exists with a NUL in the route.
			if (pathParams.length) {
				await check(r.method, withPath("2147483648"), bodyRoute ? {} : undefined, "int32 path");
				await check(r.method, withPath("1%00"), bodyRoute ? {} : undefined, "NUL path");
			}
			// Every declared parameter, past int32 when numeric, with a NUL when a string.
			for (const [field, rule] of Object.entries(r.params)) {
				if (field.startsWith("$$") || pathParams.includes(field)) continue;
				const types = (Array.isArray(rule) ? rule : [rule]).map((x: any) =>
					typeof x === "string" ? x.split("|")[0] : x?.type
				);
				const values: Array<[string, unknown]> = [];
				if (types.includes("number")) values.push(["int32", 2147483648]);
				if (types.includes("string") || types.includes("email") || types.includes("enum"))
					values.push(["NUL", "a\u0000b"]);
				const idLike = /(^id$|_id$|Id$|^ids$|^before$|^device$|^datapoint$)/.test(field);
				for (const [what, v] of values) {
					const path = withPath("1");
					const mayPass = what === "int32" && !idLike;
					if (bodyRoute) await check(r.method, path, { [field]: v }, `${what} ${field}`, mayPass);
					else
						await check(
							r.method,
							`${path}?${field}=${encodeURIComponent(String(v))}`,
							undefined,
							`${what} ${field}`,
							mayPass
						);
				}
			}
			if (bodyRoute) await check(r.method, withPath("1"), deepBody, "deep JSON");
		}
		expect(failures).toEqual([]);
		expect(tried.length).toBeGreaterThan(60);
	}, 120_000);

	it("says what is wrong, naming the field", async () => {
		const nul = await api(node.url, "POST", "/api/devices", { name: "a\u0000b" }, admin);
		expect(nul.status).toBe(422);
		expect(nul.body.data[0].field).toBe("name");
		const deep = await api(
			node.url,
			"POST",
			"/api/devices",
			`{"name":"x","config":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}`,
			admin
		);
		expect(deep.status).toBe(422);
		expect(deep.body.message).toMatch(/deeper than 32/);
		const big = await api(node.url, "GET", "/api/devices/2147483648", undefined, admin);
		expect(big.status).toBe(422);
		expect(big.body.data[0].field).toBe("id");
		// Public routes too (no token): the login body.
		expect(
			(await api(node.url, "POST", "/api/users/auth", { email: "a\u0000@example.com", password: "x" })).status
		).toBe(422);
	});
});
