/** Alerts: the monitoring service raises, clears and acknowledges them and says so in events. */

export const ALERT_EVENTS = {
	alertRaised: "alert.raised",
	alertCleared: "alert.cleared",
	alertAcknowledged: "alert.acknowledged"
} as const;

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlertEvent {
	alertId: number;
	deviceId: number;
	datapoint: string;
	severity: string;
	message: string;
	at: string;
}
