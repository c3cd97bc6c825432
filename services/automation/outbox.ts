/**
 * The command outbox's decisions, pure: what a delivery error means for a command, what a
 * succeeded command leaves as the device's desired state, and when a queued command is tried
 * again. Commands are rows first; ./core sends them with `processor.write` / `processor.close`
 * and retries off, and applies these decisions with conditional updates.
 */
import type { CommandAction, WriteParams } from "../shared/contracts/automation";

export type DeliveryOutcome =
	/** the device or its node is not there: keep the command queued for the next chance */
	| { kind: "requeue"; reason: string }
	/** refused, or unknown whether it happened: never sent again */
	| { kind: "fail"; error: { type: string; message: string } };

const REQUEUE_TYPES = new Set([
	"SERVICE_NOT_FOUND",
	"SERVICE_NOT_AVAILABLE",
	"REQUEST_REJECTED",
	"REQUEST_SKIPPED",
	"NOT_FOUND",
	"QUEUE_FULL"
]);

/**
 * A timeout fails the command (the write may have happened: sending it again could repeat it);
 * a device that is not open there (404), a node that is gone or a full bulkhead requeue it; any
 * other refusal fails it with the processor's reason.
 */
export function classifyDeliveryError(err: unknown): DeliveryOutcome {
	const e = (err ?? {}) as { type?: string; code?: number; message?: string; name?: string };
	const type = e.type ?? e.name ?? "ERROR";
	const message = e.message ?? String(err);
	if (type === "REQUEST_TIMEOUT")
		return {
			kind: "fail",
			error: {
				type: "REQUEST_TIMEOUT",
				message: "the device's node did not answer in time; the write may have happened, so it is not repeated"
			}
		};
	if (REQUEUE_TYPES.has(type) || e.code === 404 || e.code === 429) return { kind: "requeue", reason: message };
	return { kind: "fail", error: { type, message } };
}

/** Backoff before the next try of a requeued command: 1 s, 2 s, 4 s … at most 30 s. */
export function retryDelayMs(attempts: number): number {
	return Math.min(30_000, 1000 * 2 ** Math.max(0, Math.min(attempts - 1, 5)));
}

/** The target a write sets ("register:10", "line") and the value it leaves there. */
export function desiredOf(action: CommandAction, params: WriteParams): [string, number | string] | null {
	if (action !== "write") return null;
	if (params.line != null) return ["line", params.line];
	if (params.register != null && params.value != null) return [`register:${params.register}`, params.value];
	return null;
}

/** Canonical body of a command for idempotency: the same key with another body is a conflict. */
export function commandBodyKey(deviceId: number, action: CommandAction, params: WriteParams, ttl: string): string {
	const p =
		params.line != null
			? { line: params.line }
			: params.register != null
				? { register: params.register, value: params.value }
				: {};
	return JSON.stringify({ deviceId, action, params: p, ttl });
}
