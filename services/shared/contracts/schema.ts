/**
 * How the API's answer shapes are declared: once, as JSON Schema data (TypeBox), from which the
 * TypeScript type comes (`Static<typeof X>`) and which the OpenAPI document publishes as the
 * action's `answer` (services/gateway/openapi.ts). So a field added to an answer is added in one
 * place, and the conformance test (test/e2e/api-openapi.test.ts) fails if a handler drifts from it.
 */
import {
	Type,
	type ObjectOptions,
	type SchemaOptions,
	type Static,
	type TProperties,
	type TSchema
} from "@sinclair/typebox";

export { Type, type Static, type TSchema };

/** An ISO 8601 time (answers never carry epoch milliseconds). */
export const IsoTime = (description?: string) =>
	Type.String({ format: "date-time", ...(description ? { description } : {}) });

/** `T | null`. */
export const Nullable = <T extends TSchema>(t: T, options: SchemaOptions = {}) => Type.Union([t, Type.Null()], options);

/** An object with exactly these fields: a field the schema does not name fails the conformance test. */
export const Closed = <T extends TProperties>(props: T, options: ObjectOptions = {}) =>
	Type.Object(props, { additionalProperties: false, ...options });

/** A database id. */
export const Id = () => Type.Integer({ minimum: 1 });

/** `{ id, deleted: true }`: what a DELETE answers. */
export const Deleted = Closed({ id: Id(), deleted: Type.Literal(true) });
