/**
 * Live push (monitoring → every gateway's Socket.IO rooms).
 *
 * A broadcast Moleculer event carries messages for Socket.IO rooms: monitoring sends it
 * (throttled per room), the live mixin of every gateway node relays it to its own sockets.
 * Rooms: `device:<id>` (events "readings", "device.status", "alert") and `alerts` ("alert").
 */
import type { AlertView } from "./api";
import type { DeviceStatusEvent } from "./devices";

export const LIVE_PUSH_EVENT = "live.push";

export interface LiveMessage {
	room: string;
	event: string;
	data: unknown;
}

export interface LivePushEvent {
	messages: LiveMessage[];
}

/** Room names: one per device, and one for every alert (administrators). */
export const ALERTS_ROOM = "alerts";
export const deviceRoom = (deviceId: number) => `device:${deviceId}`;

/** Rooms a socket may ask for; null for anything else. */
export function parseRoom(room: string): { kind: "device"; deviceId: number } | { kind: "alerts" } | null {
	if (room === ALERTS_ROOM) return { kind: "alerts" };
	const m = /^device:(\d{1,9})$/.exec(room);
	return m ? { kind: "device", deviceId: Number(m[1]) } : null;
}

/** One point of a live chart. */
export interface LiveReading {
	datapointId: number;
	label: string;
	unit: string | null;
	value: number;
	/** epoch ms */
	ts: number;
}

/** The "readings" message of a device room: the points since the last one, per datapoint. */
export interface LiveReadingsMessage {
	deviceId: number;
	readings: LiveReading[];
	/** Points dropped by the throttle since the last message. */
	coalesced: number;
}

/** What each event sent to a room carries. */
export interface LiveEvents {
	readings: LiveReadingsMessage;
	"device.status": DeviceStatusEvent;
	alert: AlertView;
}
export type LiveEventName = keyof LiveEvents;
export const LIVE_EVENT_NAMES: readonly LiveEventName[] = ["readings", "device.status", "alert"];
