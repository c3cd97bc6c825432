/**
 * Every event and channel name in one place, assembled from the topic files.
 *
 * Events are notifications (a node that is down misses them); channels are durable,
 * at-least-once and batched.
 */
import { ALERT_EVENTS } from "./alerts";
import { DEVICE_EVENTS } from "./devices";
import { READING_CHANNELS } from "./readings";

export const EVENTS = { ...DEVICE_EVENTS, ...ALERT_EVENTS } as const;

export const CHANNELS = { ...READING_CHANNELS } as const;
