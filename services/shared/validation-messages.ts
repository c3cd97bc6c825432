/**
 * fastest-validator's messages, reworded so each names the field, the value sent and what is
 * allowed (its stock enum message put the allowed list where the sent value belongs:
 * "The 'status' field value 'open, cleared, all' does not match…"). Used by every action's
 * params through the broker's validator (moleculer.config.ts).
 */
export const VALIDATION_MESSAGES: Record<string, string> = {
	required: "The '{field}' field is required.",
	string: "The '{field}' field must be a string (got {actual}).",
	stringEmpty: "The '{field}' field must not be empty.",
	stringMin: "The '{field}' field must be at least {expected} characters long (got {actual}).",
	stringMax: "The '{field}' field must be at most {expected} characters long (got {actual}).",
	stringPattern: "The '{field}' field '{actual}' does not have the expected format.",
	number: "The '{field}' field must be a number (got '{actual}').",
	numberMin: "The '{field}' field must be at least {expected} (got {actual}).",
	numberMax: "The '{field}' field must be at most {expected} (got {actual}).",
	numberInteger: "The '{field}' field must be an integer (got {actual}).",
	numberPositive: "The '{field}' field must be a positive number (got {actual}).",
	boolean: "The '{field}' field must be true or false (got '{actual}').",
	enumValue: "The '{field}' field must be one of {expected} (got '{actual}').",
	array: "The '{field}' field must be an array.",
	arrayMax: "The '{field}' field may have at most {expected} items (got {actual}).",
	// `field` is '' for a body's own fields: name the unknown ones and the ones the route takes.
	objectStrict: "Unknown field(s) {actual}; allowed: {expected}.",
	email: "The '{field}' field must be an e-mail address (got '{actual}')."
};
