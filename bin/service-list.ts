/**
 * What SERVICES means for the runner beyond moleculer-runner's own rules:
 *   - `pipeline` selects the three pipeline stages (services/pipeline-ingest, -decode, -sink);
 *   - PIPELINE_STAGES (deprecated, honoured for one release) narrows the stages a node runs
 *     when SERVICES selects the pipeline (or is unset: every service).
 */
export const PIPELINE_STAGE_SERVICES = {
	ingest: "pipeline-ingest",
	decode: "pipeline-decode",
	sink: "pipeline-sink"
} as const;
type Stage = keyof typeof PIPELINE_STAGE_SERVICES;

export interface ServiceListResult {
	/** The value for moleculer-runner's SERVICES, or null to load every service of SERVICEDIR. */
	services: string | null;
	warnings: string[];
}

export function resolveServiceList(services: string[] | null, stages: Stage[] | null, mask: string): ServiceListResult {
	const warnings: string[] = [];
	const all = Object.keys(PIPELINE_STAGE_SERVICES) as Stage[];
	if (stages) {
		warnings.push(
			`PIPELINE_STAGES is deprecated and will be removed in the next release: use ` +
				`SERVICES=${stages.map(s => PIPELINE_STAGE_SERVICES[s]).join(",")} (it still applies where ` +
				`SERVICES selects the pipeline)`
		);
	}
	const chosen = (stages ?? all).map(s => PIPELINE_STAGE_SERVICES[s]);
	if (services == null) {
		if (!stages) return { services: null, warnings };
		const skipped = all.filter(s => !stages.includes(s)).map(s => `!${PIPELINE_STAGE_SERVICES[s]}`);
		return { services: [mask, ...skipped].join(","), warnings };
	}
	const out: string[] = [];
	for (const s of services) {
		if (s === "pipeline") out.push(...chosen);
		else if (s === "!pipeline") out.push(...all.map(x => `!${PIPELINE_STAGE_SERVICES[x]}`));
		else out.push(s);
	}
	return { services: [...new Set(out)].join(","), warnings };
}
