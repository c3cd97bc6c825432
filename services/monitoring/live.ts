/**
 * Live push, throttled per room: readings for `device:<id>` are coalesced and sent at most
 * once per interval per room (the latest value of each datapoint, plus a few recent points so a
 * chart does not look stepped), so a device reporting at 1 kHz costs a browser a handful of
 * messages a second. Status and alert messages are not coalesced (they are rare and each matters).
 */

import { deviceRoom, type LiveMessage, type LiveReading, type LiveReadingsMessage } from "../shared/contracts";

export {
	ALERTS_ROOM,
	deviceRoom,
	parseRoom,
	LIVE_PUSH_EVENT,
	type LiveMessage,
	type LivePushEvent,
	type LiveReading
} from "../shared/contracts";

interface RoomBuffer {
	deviceId: number;
	/**
	 * datapointId → points since the last flush, in arrival order. Trimmed to the newest (by time)
	 * `pointsPerFlush` only when twice that many wait (one splice per `pointsPerFlush` readings,
	 * not a shift per reading) and at the flush.
	 */
	points: Map<number, LiveReading[]>;
	dropped: number;
}

export class RoomThrottle {
	/**
	 * Keyed by device id, not room name: `add` runs once per reading of every batch (a string
	 * made and hashed per reading was the throttle's largest cost); the name is made per flush.
	 */
	private readonly rooms = new Map<number, RoomBuffer>();
	private readonly lastFlush = new Map<number, number>();
	private timer: NodeJS.Timeout | null = null;
	/** Readings coalesced away (not sent individually): a measure of how much the throttle saves. */
	coalesced = 0;

	constructor(
		private readonly intervalMs: number,
		private readonly send: (messages: LiveMessage[]) => void,
		private readonly pointsPerFlush = 20
	) {}

	add(deviceId: number, r: LiveReading): void {
		let buf = this.rooms.get(deviceId);
		if (!buf) this.rooms.set(deviceId, (buf = { deviceId, points: new Map(), dropped: 0 }));
		let list = buf.points.get(r.datapointId);
		if (!list) buf.points.set(r.datapointId, (list = []));
		list.push(r);
		// Keep the newest points; the chart loses detail, not the latest value.
		if (list.length >= 2 * this.pointsPerFlush) this.trim(buf, list);
		if (!this.timer) this.schedule();
	}

	/** Drops all but the newest `pointsPerFlush` points of one datapoint (by time), counting them. */
	private trim(buf: RoomBuffer, list: LiveReading[]): void {
		const extra = list.length - this.pointsPerFlush;
		if (extra <= 0) return;
		// Points may arrive out of time order (a batch is not sorted): the newest are kept, not the last.
		list.sort((a, b) => a.ts - b.ts);
		list.splice(0, extra);
		buf.dropped += extra;
		this.coalesced += extra;
	}

	private schedule(): void {
		if (this.timer) return;
		const now = Date.now();
		// A room that was idle longer than the interval is sent at once (first value without delay).
		let wait = this.intervalMs;
		for (const deviceId of this.rooms.keys()) {
			const last = this.lastFlush.get(deviceId) ?? 0;
			wait = Math.min(wait, Math.max(0, last + this.intervalMs - now));
		}
		this.timer = setTimeout(() => {
			this.timer = null;
			this.flush();
		}, wait);
		this.timer.unref?.();
	}

	/** Sends what is due now; rooms flushed less than an interval ago wait for the next tick. */
	flush(force = false): void {
		const now = Date.now();
		const out: LiveMessage[] = [];
		for (const [deviceId, buf] of this.rooms) {
			const last = this.lastFlush.get(deviceId) ?? 0;
			if (!force && now - last < this.intervalMs) continue;
			const readings: LiveReading[] = [];
			for (const list of buf.points.values()) {
				// trim() leaves the list in time order; a list within the limit is sorted here.
				if (list.length > this.pointsPerFlush) this.trim(buf, list);
				else list.sort((a, b) => a.ts - b.ts);
				readings.push(...list);
			}
			const data: LiveReadingsMessage = { deviceId: buf.deviceId, readings, coalesced: buf.dropped };
			out.push({ room: deviceRoom(deviceId), event: "readings", data });
			this.rooms.delete(deviceId);
			this.lastFlush.set(deviceId, now);
		}
		// Forget rooms idle for a long time so the map does not grow with every device ever seen.
		if (this.lastFlush.size > 10_000) {
			for (const [deviceId, t] of this.lastFlush) if (now - t > 60_000) this.lastFlush.delete(deviceId);
		}
		if (out.length) this.send(out);
		if (this.rooms.size) this.schedule();
	}

	stop(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		this.flush(true);
	}
}
