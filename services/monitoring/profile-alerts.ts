/**
 * Alert defaults from device profiles (profiles/*.yaml). The manager validates profiles for
 * matching and strips keys it does not know; monitoring reads the same files for the one key it
 * owns, `alert`/`alerts` on a datapoint:
 *
 *   datapoints:
 *     - label: temperature
 *       unit: °C
 *       alert: { above: 30, hysteresis: 0.5, for: 10, severity: warning }
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { profileAlertDefaults, type ProfileAlertDefault } from "./alerts";
import { errorMessage } from "../shared/error-message";

export interface ProfileAlerts {
	/** profile name → datapoint label → defaults */
	byProfile: Map<string, Map<string, ProfileAlertDefault[]>>;
	problems: string[];
}

export function loadProfileAlerts(dir: string): ProfileAlerts {
	const byProfile = new Map<string, Map<string, ProfileAlertDefault[]>>();
	const problems: string[] = [];
	let files: string[] = [];
	try {
		files = fs.readdirSync(dir).filter(f => /\.ya?ml$/i.test(f));
	} catch {
		return { byProfile, problems };
	}
	for (const file of files) {
		let doc: unknown;
		try {
			doc = YAML.parse(fs.readFileSync(path.join(dir, file), "utf8"));
		} catch (err) {
			// The manager reports syntax errors of profiles; here a bad file only means no defaults.
			problems.push(`${file}: ${errorMessage(err).split("\n")[0]}`);
			continue;
		}
		const p = doc as { name?: unknown; datapoints?: unknown } | null;
		if (!p || typeof p.name !== "string" || !Array.isArray(p.datapoints)) continue;
		const labels = new Map<string, ProfileAlertDefault[]>();
		for (const dp of p.datapoints as Record<string, unknown>[]) {
			if (!dp || typeof dp.label !== "string") continue;
			const { defaults, problems: bad } = profileAlertDefaults(dp);
			for (const b of bad) problems.push(`${file}: datapoint ${dp.label}: ${b}`);
			if (defaults.length) labels.set(dp.label, defaults);
		}
		if (labels.size) byProfile.set(p.name, labels);
	}
	return { byProfile, problems };
}
