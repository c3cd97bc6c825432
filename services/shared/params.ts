/**
 * Parameter schemas every service shares (fastest-validator). Integer ids are PostgreSQL
 * `integer` columns: anything outside 1 … 2^31−1 is refused with 422 before it reaches SQL.
 */
export const INT32_MAX = 2_147_483_647;

/** A row id from a path or query string (`"7"` is converted). */
export const idParam = { type: "number", integer: true, positive: true, max: INT32_MAX, convert: true } as const;
export const optionalIdParam = { ...idParam, optional: true } as const;
