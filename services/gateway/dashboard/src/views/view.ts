/**
 * The view registry's contract. A view is one page of the dashboard, reached at `#/<path>` (and
 * `#/<path>/<param>…`); the list of views lives in main.ts. To add a view: write
 * `views/<name>.ts` exporting a `View`, and add it to the `views` array in main.ts. That is all:
 * the navigation, routing, sign-in, live connection and clean-up come from the app (app.ts).
 *
 * ```ts
 * export const buildsView: View = {
 *   path: "builds", title: "Builds", nav: "user", order: 60,
 *   render(el, ctx) {
 *     el.append(h("h1", {}, "Builds"));
 *     ctx.every(5000, async () => { const page = await ctx.api.page("/api/…"); … });
 *   }
 * };
 * ```
 */
import type { LiveEventName, LiveEvents } from "../../../../shared/contracts/live";
import type { Api } from "../api";
import type { Live } from "../live";

export interface Viewer {
	id: number | null;
	email: string;
	admin: boolean;
}

export interface ViewContext {
	api: Api;
	live: Live;
	user: Viewer;
	/** Goes to another view: `ctx.navigate("devices/5")`. */
	navigate(path: string): void;
	/** Runs `fn` when the view is left (unsubscribe, stop a timer, destroy a chart). */
	onCleanup(fn: () => void): void;
	/** Calls `fn` now and every `ms` while the view is shown (errors are logged, not thrown). */
	every(ms: number, fn: () => unknown): void;
	/** Ends the session and shows the sign-in form with a message. */
	signOut(message?: string): void;
	/** Subscribes to a live event for as long as the view is shown. */
	on<E extends LiveEventName>(event: E, fn: (data: LiveEvents[E]) => void): void;
}

export interface View {
	/** First segment of the route: `#/devices/5` is the view "devices" with params ["5"]. */
	path: string;
	/** Navigation label and page title. */
	title: string;
	/** In the navigation for everyone ("user"), for administrators only ("admin"), or not at all (false). */
	nav: "user" | "admin" | false;
	/**
	 * Position in the navigation (ascending). Overview 10, devices 20, map 25, alerts 30, mesh 40, builds 60,
	 * automation 70, users 80, account 90.
	 */
	order: number;
	/** A one-letter or emoji glyph for the compact navigation on a phone. */
	icon?: string;
	/** Fills `el` (empty, already in the page). May be async; it is left when the route changes. */
	render(el: HTMLElement, ctx: ViewContext, params: string[]): void | Promise<void>;
}
