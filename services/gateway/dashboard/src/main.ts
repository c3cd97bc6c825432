/**
 * fleetmesh dashboard entry point: the list of views and the app shell. Plain DOM, no framework;
 * bundled by services/gateway/dashboard/build.ts (esbuild).
 *
 * To add a view, write views/<name>.ts exporting a `View` (see views/view.ts) and add it to the
 * array below; its `order` places it in the navigation.
 */
// First: a browser language Intl refuses is replaced before uPlot reads it (lib/locale.ts).
import "./lib/locale";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { App } from "./app";
import { accountView } from "./views/account";
import { alertsView } from "./views/alerts";
import { apiView } from "./views/api-reference";
import { automationView } from "./views/automation";
import { buildsView } from "./views/builds";
import { devicesView } from "./views/devices";
import { mapView } from "./views/map";
import { meshView } from "./views/mesh";
import { overviewView } from "./views/overview";
import { usersView } from "./views/users";
import type { View } from "./views/view";

export const views: View[] = [
	overviewView,
	devicesView,
	mapView,
	alertsView,
	meshView,
	buildsView,
	automationView,
	usersView,
	apiView,
	accountView
];

new App(views).start();
