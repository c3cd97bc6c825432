/**
 * Live push (monitoring → every gateway's Socket.IO rooms).
 *
 * A broadcast Moleculer event carries messages for Socket.IO rooms: monitoring sends it
 * (throttled per room), the live mixin of every gateway node relays it to its own sockets.
 * Rooms: `device:<id>` (events "readings", "device.status", "alert") and `alerts` ("alert").
 */
export const LIVE_PUSH_EVENT = "live.push";

export interface LiveMessage {
	room: string;
	event: string;
	data: unknown;
}

export interface LivePushEvent {
	messages: LiveMessage[];
}
