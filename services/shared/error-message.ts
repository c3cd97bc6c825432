/**
 * The message of anything thrown, for logs and error texts. A `catch` gets `unknown`: an Error
 * gives its message, anything else (a string, a rejected plain object) its string form, where a
 * cast to Error would print "undefined". No imports, so the dashboard bundles it too.
 */
export function errorMessage(err: unknown): string {
	if (err instanceof Error) return err.message;
	if (err != null && typeof err === "object" && typeof (err as { message?: unknown }).message === "string") {
		return (err as { message: string }).message;
	}
	return String(err);
}
