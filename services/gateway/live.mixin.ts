/**
 * live mixin of the gateway: relays `live.push` Moleculer events to this gateway's own
 * Socket.IO rooms. The monitoring service broadcasts the event (throttled per room), so every
 * gateway node of the mesh delivers to the browsers connected to it; no Socket.IO adapter is
 * needed. Which rooms a socket may join is decided by `monitoring.join` (whitelisted).
 */
import type { Context, Service } from "moleculer";
import { LIVE_PUSH_EVENT, type LivePushEvent } from "../shared/contracts";
import { defineMixin } from "../shared/define-service";

type LiveThis = Service & {
	io?: { to(room: string): Emitter; volatile: { to(room: string): Emitter } };
	liveStats: { messages: number; dropped: number };
};
type Emitter = { emit(event: string, ...args: unknown[]): boolean };

const ROOM = /^(device:\d{1,9}|alerts)$/;
const EVENT = /^[a-z][a-z.]{0,40}$/;

export const LiveMixin = defineMixin<LiveThis>({
	events: {
		[LIVE_PUSH_EVENT]: {
			handler(this: LiveThis, ctx: Context<Partial<LivePushEvent>>) {
				const io = this.io;
				const messages = ctx.params?.messages;
				if (!io || !Array.isArray(messages)) return;
				for (const m of messages) {
					// Only the rooms and events monitoring defines: nothing else reaches a browser.
					if (
						!m ||
						typeof m.room !== "string" ||
						!ROOM.test(m.room) ||
						typeof m.event !== "string" ||
						!EVENT.test(m.event)
					) {
						this.liveStats.dropped++;
						continue;
					}
					this.liveStats.messages++;
					// Readings are volatile: a browser that cannot keep up skips values instead of
					// buffering them without bound. Alerts and status changes are always delivered.
					(m.event === "readings" ? io.volatile.to(m.room) : io.to(m.room)).emit(m.event, m.data);
				}
			}
		}
	},
	created(this: LiveThis) {
		this.liveStats = { messages: 0, dropped: 0 };
	}
});

export default LiveMixin;
