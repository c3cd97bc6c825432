/**
 * The device profile shown in README.md ("Adding a device profile") is loaded by the real profile
 * loader next to the shipped profiles, wins the match for its USB ids, and maps the example line
 * to the datapoints the README says, through the real line parser and the processor's key rule.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadProfiles, matchProfile } from "../../services/manager/profiles";
import { parseLine } from "../../services/processor/protocols/line";

const ROOT = path.resolve(__dirname, "../..");

function readmeProfile(): string {
	const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
	const at = readme.indexOf("<!-- loaded by test/unit/readme-profile.test.ts -->");
	expect(at, "README has the marked profile block").toBeGreaterThan(0);
	return /```yaml\n([\s\S]*?)```/.exec(readme.slice(at))![1];
}

describe("the README's example device profile", () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetmesh-readme-profile-"));
	for (const f of fs.readdirSync(path.join(ROOT, "profiles")))
		fs.copyFileSync(path.join(ROOT, "profiles", f), path.join(dir, f));
	fs.writeFileSync(path.join(dir, "soil-probe.yaml"), readmeProfile());
	const { profiles, errors } = loadProfiles(dir);
	const probe = profiles.find(p => p.file.endsWith("soil-probe.yaml"));

	it("loads without errors, with the link and config it gives", () => {
		expect(errors).toEqual([]);
		expect(probe).toMatchObject({
			name: "Greenhouse soil probe (CH9102)",
			type: "soil-probe",
			interface: "uart",
			protocol: "line",
			format: "kv",
			link: { baudrate: 9600 },
			config: { timeout: 10 }
		});
	});

	it("is the match for a CH9102 tty (not the CH340 clone profile of the same vendor)", () => {
		const dev = { subsystem: "tty", properties: { ID_VENDOR_ID: "1a86", ID_MODEL_ID: "55d4" } };
		expect(matchProfile(profiles, dev)?.type).toBe("soil-probe");
		const ch340 = { subsystem: "tty", properties: { ID_VENDOR_ID: "1a86", ID_MODEL_ID: "7523" } };
		expect(matchProfile(profiles, ch340)?.type).not.toBe("soil-probe");
	});

	it("maps the example line to the datapoints and units the README names", () => {
		const parsed = parseLine("m=41.2 t=18.6 ec=1.31", probe!.format!, { csvHeader: null });
		expect(parsed.ok).toBe(true);
		const values = (parsed as { values: Record<string, number> }).values;
		// The processor's rule (services/processor/session.ts): a value's key is the datapoint's key, else its label.
		const readings = probe!.datapoints.map(d => [d.label, values[d.key ?? d.label], d.unit]);
		expect(readings).toEqual([
			["moisture", 41.2, "%"],
			["soil_temperature", 18.6, "°C"],
			["conductivity", 1.31, "mS/cm"]
		]);
	});
});
