/** Where the dashboard's sources and its bundle live (the gateway serves DASHBOARD_DIST). */
import path from "node:path";
import { PROJECT_ROOT } from "../../shared/paths";

export const DASHBOARD_DIR = path.join(PROJECT_ROOT, "services/gateway/dashboard");
export const DASHBOARD_SRC = path.join(DASHBOARD_DIR, "src");
export const DASHBOARD_DIST = path.join(DASHBOARD_DIR, "dist");
