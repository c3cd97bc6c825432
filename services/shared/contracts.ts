/**
 * Payload contracts between services: event and channel names, their TypeScript types, and
 * fastest-validator schemas for the consumers to check what arrives.
 *
 * The contracts live in topic files under contracts/; this barrel re-exports them so that
 * `import … from "../shared/contracts"` keeps working. New contracts go in a topic file.
 */
export * from "./contracts/alerts";
export * from "./contracts/api";
export * from "./contracts/devices";
export * from "./contracts/events";
export * from "./contracts/faces2";
export * from "./contracts/live";
export * from "./contracts/readings";
