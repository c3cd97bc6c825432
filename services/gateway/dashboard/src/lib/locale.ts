/**
 * The locale every view formats with: the browser's language if Intl accepts it, else English.
 *
 * A browser started with a POSIX locale (LANG=C.UTF-8, as on many servers and CI machines)
 * reports tags such as "en-US@posix", which Intl refuses with a RangeError. uPlot builds an
 * `Intl.NumberFormat(navigator.language)` when its module is evaluated, so such a browser never
 * got past "Loading…". This module is imported first by main.ts: where the browser's own tag is
 * refused, `navigator.language` is replaced by the accepted one before uPlot reads it.
 */
export const LOCALE = ((): string => {
	for (const tag of [...(navigator.languages ?? []), navigator.language]) {
		try {
			if (tag) return Intl.getCanonicalLocales(tag)[0];
		} catch {
			/* not a valid tag: try the next */
		}
	}
	return "en";
})();

/** Whether Intl accepts `tag`. */
export function isValidLocale(tag: string | undefined): boolean {
	try {
		return !!tag && Intl.getCanonicalLocales(tag).length > 0;
	} catch {
		return false;
	}
}

if (!isValidLocale(navigator.language)) {
	Object.defineProperty(navigator, "language", { configurable: true, get: () => LOCALE });
	Object.defineProperty(navigator, "languages", { configurable: true, get: () => [LOCALE] });
}
