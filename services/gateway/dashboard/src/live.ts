/**
 * One Socket.IO connection for the whole app. Views subscribe to server events with `on()`
 * (the returned function unsubscribes; a view's context does that when the view is left) and ask
 * for rooms with `join()`; joined rooms are joined again after a reconnect.
 */
import { io, type Socket } from "socket.io-client";
import { LIVE_EVENT_NAMES, type LiveEvents } from "../../../shared/contracts/live";

/** Server events, and "$state" when the connection state changes. */
type LocalEvents = LiveEvents & { $state: ConnState };
type Handler = (data: never) => void;
export type ConnState = "connecting" | "live" | "down" | "offline";

export class Live {
	private socket: Socket | null = null;
	private handlers = new Map<string, Set<Handler>>();
	private rooms = new Set<string>();
	state: ConnState = "connecting";
	onState: (s: ConnState) => void = () => undefined;
	onUnauthorized: () => void = () => undefined;

	connect(token: string): void {
		const socket = io({ auth: { token }, transports: ["websocket", "polling"] });
		this.socket = socket;
		const set = (s: ConnState) => {
			this.state = s;
			this.onState(s);
			this.emitLocal("$state", s);
		};
		socket.on("connect", () => {
			set("live");
			const rooms = [...this.rooms];
			this.rooms.clear();
			this.join(rooms);
		});
		socket.on("disconnect", () => set("down"));
		socket.on("connect_error", (err: Error & { data?: { code?: number } }) => {
			set("offline");
			if (err.data?.code === 401 || /unauthori|token|401/i.test(err.message)) this.onUnauthorized();
		});
		for (const ev of LIVE_EVENT_NAMES) socket.on(ev, (data: unknown) => this.emitLocal(ev, data));
	}

	disconnect(): void {
		this.socket?.disconnect();
		this.socket = null;
		this.rooms.clear();
		this.handlers.clear();
	}

	/** Subscribes to a server event ("readings", "device.status", "alert") or "$state"; returns the unsubscribe. */
	on<E extends keyof LocalEvents>(event: E, fn: (data: LocalEvents[E]) => void): () => void {
		let set = this.handlers.get(event);
		if (!set) this.handlers.set(event, (set = new Set()));
		set.add(fn);
		return () => set!.delete(fn);
	}

	/** Joins rooms (`device:<id>`, `alerts`); refused rooms are logged, not thrown (alerts is admin only). */
	join(rooms: string[]): void {
		const fresh = rooms.filter(r => !this.rooms.has(r));
		if (!fresh.length) return;
		for (const r of fresh) this.rooms.add(r);
		if (!this.socket?.connected) return;
		this.socket.emit("call", "monitoring.join", { rooms: fresh }, (err: { message?: string } | null) => {
			if (err) {
				for (const r of fresh) this.rooms.delete(r);
				console.warn("join refused:", err.message);
			}
		});
	}

	private emitLocal(event: keyof LocalEvents, data: unknown): void {
		for (const fn of this.handlers.get(event) ?? []) {
			try {
				// The server is the other end of the LiveEvents contract: data has the event's shape.
				(fn as (data: unknown) => void)(data);
			} catch (err) {
				console.error(err);
			}
		}
	}
}
