/**
 * dashboard mixin of the gateway: serves the built dashboard (services/gateway/dashboard/dist) at
 * `/` through moleculer-web's `assets` (serve-static); /api, /health and the Socket.IO path are
 * untouched. The gateway never builds it: `npm run build`, the Dockerfile and `npm start`'s
 * prestart step do (services/gateway/dashboard/build.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { Service, ServiceSchema } from "moleculer";
import { addStartNotes } from "../shared/first-start";
import { DASHBOARD_DIST } from "./dashboard/paths";

export const DashboardMixin: Partial<ServiceSchema> = {
	settings: {
		assets: {
			folder: DASHBOARD_DIST,
			// Rebuilt files get new contents under the same names: browsers must revalidate.
			options: { index: "index.html", maxAge: 0, dotfiles: "ignore" }
		}
	},

	started(this: Service) {
		const base = this.settings.port ? `http://localhost:${this.settings.port}` : null;
		if (base) addStartNotes({ apiUrl: `${base}/api` });
		if (!fs.existsSync(path.join(DASHBOARD_DIST, "index.html"))) {
			// The API keeps working without the dashboard; say what to run.
			this.logger.warn(
				`dashboard not built (${DASHBOARD_DIST} is empty); the API still works. Run: npm run build:dashboard`
			);
			return;
		}
		// The first thing a new user looks for in the output of `npm start`: it goes into the
		// start-up summary printed at the end (services/shared/first-start.ts).
		if (base) {
			addStartNotes({ dashboardUrl: `${base}/` });
			this.logger.debug(`dashboard: ${base}/`);
		}
	}
};

export default DashboardMixin;
