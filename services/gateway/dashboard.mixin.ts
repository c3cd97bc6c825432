/**
 * dashboard mixin of the gateway: serves the dashboard (services/gateway/dashboard) at `/`,
 * building it first when it is missing or its sources changed (esbuild, a fraction of a second).
 * Static files go through moleculer-web's `assets` (serve-static); /api, /health and the
 * Socket.IO path are untouched.
 */
import type { Service, ServiceSchema } from "moleculer";
import { DASHBOARD_DIST, buildDashboard } from "./dashboard/build";
import { errorMessage } from "../shared/error-message";

export const DashboardMixin: Partial<ServiceSchema> = {
	settings: {
		assets: {
			folder: DASHBOARD_DIST,
			// Rebuilt files get new contents under the same names: browsers must revalidate.
			options: { index: "index.html", maxAge: 0, dotfiles: "ignore" }
		}
	},

	async started(this: Service) {
		try {
			const r = await buildDashboard();
			if (r.built) this.logger.info(`dashboard built in ${r.ms} ms (${r.files.join(", ")})`);
		} catch (err) {
			// The API keeps working without the dashboard; say what to run.
			this.logger.error(`dashboard could not be built (${errorMessage(err)}); the API still works. Try: npm run build:dashboard`);
			return;
		}
		// The first thing a new user looks for in the output of `npm start`.
		if (this.settings.port) this.logger.info(`dashboard: http://localhost:${this.settings.port}/`);
	}
};

export default DashboardMixin;
