/**
 * The deployment files (docker/) are validated as text: there is no Docker engine or
 * Kubernetes cluster here to run them. They must name real services and known variables, and
 * encode the privilege matrix (the detector alone is privileged).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { resolveServiceList } from "../../bin/service-list";

const ROOT = path.resolve(__dirname, "../..");
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), "utf8");
const parse = (p: string) => YAML.parse(read(p), { merge: true });
const parseAll = (p: string) => YAML.parseAllDocuments(read(p)).map(d => d.toJS({ merge: true } as any));

const serviceFolders = fs
	.readdirSync(path.join(ROOT, "services"))
	.filter(
		d =>
			fs.existsSync(path.join(ROOT, "services", d)) &&
			fs.readdirSync(path.join(ROOT, "services", d)).some(f => f.endsWith(".service.ts"))
	);

// Every variable the code reads: those of services/shared/env.ts plus the few read by the config.
const envSource =
	read("services/shared/env.ts") + read("moleculer.config.ts") + read("services/gateway/gateway.service.ts");
const knownVariables = new Set(
	[...envSource.matchAll(/"([A-Z][A-Z0-9_]+)"/g), ...envSource.matchAll(/process\.env\.([A-Z][A-Z0-9_]+)/g)].map(
		m => m[1]
	)
);
for (const v of ["SERVICEDIR", "NODE_NAME", "NODE_ENV", "NODE_OPTIONS"]) knownVariables.add(v);

function checkServicesList(value: string, where: string) {
	// As the runner reads it: `pipeline` stands for the three pipeline stage services.
	const expanded = resolveServiceList(
		value.split(",").map(s => s.trim()),
		null,
		"**/*.service.ts"
	).services!;
	for (const name of expanded.split(",")) {
		expect(serviceFolders, `${where}: SERVICES names '${name}', which is not a service folder`).toContain(name);
	}
}

describe("docker compose files", () => {
	for (const file of ["docker/compose.yml", "docker/compose.edge.yml"]) {
		it(`${file} names real services and known variables`, () => {
			const doc = parse(file);
			const fleet = Object.entries<any>(doc.services).filter(([, s]) => s.image === "fleetmesh:latest");
			expect(fleet.length).toBeGreaterThan(0);
			for (const [name, svc] of fleet) {
				expect(svc.environment?.SERVICES, `${file}:${name} has no SERVICES`).toBeTruthy();
				checkServicesList(svc.environment.SERVICES, `${file}:${name}`);
				for (const key of Object.keys(svc.environment))
					expect(knownVariables, `${file}:${name} sets ${key}, which nothing reads`).toContain(key);
			}
		});
	}

	it("the edge file encodes the privilege matrix: detector privileged, processor devices only, manager ro", () => {
		const { services } = parse("docker/compose.edge.yml");
		expect(services.detector.privileged).toBe(true);
		expect(services.detector.volumes).toContain("/run/udev:/run/udev:ro");
		for (const name of Object.keys(services).filter(n => n !== "detector"))
			expect(services[name].privileged, name).not.toBe(true);
		expect(services.processor.devices.length).toBeGreaterThan(0);
		expect(services.processor.cap_drop).toEqual(["ALL"]);
		expect(services.manager.volumes).toContain("/dev:/dev:ro");
		// Device payloads name the processor's node, not the detector's own.
		expect(services.detector.environment.DEVICE_NODEID).toBe(services.processor.environment.NODEID);
	});

	it("edge nodes run with a small V8 young generation (the memory target of an edge node)", () => {
		const doc = parse("docker/compose.edge.yml");
		for (const name of ["detector", "processor"])
			expect(doc.services[name].environment.NODE_OPTIONS, name).toMatch(/--max-semi-space-size=1\b/);
		const k8s = parseAll("docker/k8s/fleetmesh.yaml");
		const edge = k8s.find(d => d.kind === "DaemonSet" && d.spec.template.metadata.labels.role === "edge");
		for (const c of edge.spec.template.spec.containers.filter((c: any) =>
			["detector", "processor"].includes(c.name)
		))
			expect(c.env, c.name).toContainEqual({
				name: "NODE_OPTIONS",
				value: doc["x-edge"].environment.NODE_OPTIONS
			});
	});

	it("mounts the mosquitto configuration that exists in docker/mosquitto", () => {
		const { services } = parse("docker/compose.yml");
		for (const v of services.mosquitto.volumes as string[]) {
			const src = v.split(":")[0];
			if (src.startsWith("./")) expect(fs.existsSync(path.join(ROOT, "docker", src)), src).toBe(true);
		}
	});
});

describe("kubernetes manifests", () => {
	const docs = parseAll("docker/k8s/fleetmesh.yaml");
	const workloads = docs.filter(d => ["Deployment", "DaemonSet"].includes(d.kind));
	const containers = workloads.flatMap(w =>
		w.spec.template.spec.containers.map((c: any) => ({ ...c, workload: w.metadata.name }))
	);

	it("every document has a kind, a name and the fleetmesh namespace", () => {
		for (const d of docs) {
			expect(d.apiVersion && d.kind && d.metadata?.name, JSON.stringify(d).slice(0, 80)).toBeTruthy();
			if (d.kind !== "Namespace") expect(d.metadata.namespace).toBe("fleetmesh");
		}
	});

	it("only the detector is privileged; every other container drops all capabilities", () => {
		for (const c of containers) {
			if (c.name === "detector") {
				expect(c.securityContext.privileged).toBe(true);
			} else {
				expect(c.securityContext.privileged, c.name).toBe(false);
				expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
				expect(c.securityContext.capabilities.drop, c.name).toEqual(["ALL"]);
			}
		}
	});

	it("names real services and known variables, and probes /ready and /health", () => {
		for (const c of containers) {
			const env = Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value]));
			checkServicesList(env.SERVICES, `${c.workload}/${c.name}`);
			for (const key of Object.keys(env)) expect(knownVariables, `${c.name} sets ${key}`).toContain(key);
		}
		const gateway = containers.find(c => c.name === "gateway");
		expect(gateway.readinessProbe.httpGet.path).toBe("/ready");
		expect(gateway.livenessProbe.httpGet.path).toBe("/health");
		const config = docs.find(d => d.kind === "ConfigMap");
		for (const key of Object.keys(config.data)) expect(knownVariables).toContain(key);
	});
});

describe("Dockerfile", () => {
	it("copies paths that exist and runs a script package.json has", () => {
		const text = read("docker/Dockerfile");
		const pkg = JSON.parse(read("package.json"));
		for (const m of text.matchAll(/^COPY --from=build \/app\/(\S+)/gm)) {
			const p = m[1];
			// Build outputs (compiled code, the bundled dashboard) exist only inside the image.
			if (["node_modules", "dist"].includes(p) || p.endsWith("/dist")) continue;
			expect(fs.existsSync(path.join(ROOT, p)), `Dockerfile copies ${p}`).toBe(true);
		}
		const cmd = text.match(/^CMD \["npm", "run", "([^"]+)"\]/m);
		expect(cmd && pkg.scripts[cmd[1]]).toBeTruthy();
	});
});
