/** The API and live shapes the dashboard reads: the shared contracts, one declaration for both ends. */
export type * from "../../../shared/contracts/api";
export type { LiveReading, LiveReadingsMessage } from "../../../shared/contracts/live";
