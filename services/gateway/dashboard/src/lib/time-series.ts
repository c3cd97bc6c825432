/**
 * Pure helpers of the time charts (no DOM, so unit tests call them directly): gaps, tick labels,
 * bucket widths.
 */

export const MIN = 60;
export const HOUR = 3600;
export const DAY = 86_400;

export const pad = (n: number) => String(n).padStart(2, "0");

/** One line of tick label: clock time, with the date once the span covers more than a day. */
export function timeTickLabels(ticks: number[], span: number): string[] {
	const inc = ticks.length > 1 ? ticks[1] - ticks[0] : MIN;
	return ticks.map(t => {
		const d = new Date(t * 1000);
		const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}${inc < MIN ? `:${pad(d.getSeconds())}` : ""}`;
		if (span <= DAY) return clock;
		const date = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
		return inc >= DAY ? date : `${date} ${clock}`;
	});
}

/** Median spacing of sorted timestamps (s). */
export function medianStep(xs: number[]): number {
	if (xs.length < 2) return 0;
	const d: number[] = [];
	for (let i = 1; i < xs.length; i++) d.push(xs[i] - xs[i - 1]);
	d.sort((a, b) => a - b);
	return d[d.length >> 1];
}

/** The points with a null between any two further apart than `gapS`: uPlot breaks the line there. */
export function withGaps(xs: number[], ys: (number | null)[], gapS: number): { xs: number[]; ys: (number | null)[] } {
	const ox: number[] = [];
	const oy: (number | null)[] = [];
	for (let i = 0; i < xs.length; i++) {
		if (i > 0 && xs[i] - xs[i - 1] > gapS) {
			ox.push((xs[i] + xs[i - 1]) / 2);
			oy.push(null);
		}
		ox.push(xs[i]);
		oy.push(ys[i]);
	}
	return { xs: ox, ys: oy };
}

/** At most this many points per series on a bucketed chart. */
export const MAX_POINTS = 500;

/** Bucket widths the stats route accepts, smallest first. */
export const BUCKETS: [string, number][] = [
	["10s", 10],
	["30s", 30],
	["1m", 60],
	["2m", 120],
	["5m", 300],
	["10m", 600],
	["15m", 900],
	["30m", 1800],
	["1h", 3600],
	["3h", 10_800],
	["6h", 21_600],
	["12h", 43_200],
	["1d", 86_400]
];

/** Spans up to this long (s) are drawn from the raw readings, longer ones from buckets. */
export const RAW_MAX_S = 3600;

/** The smallest bucket that keeps a span under `MAX_POINTS` points per series. */
export function pickBucket(spanS: number): [string, number] {
	return BUCKETS.find(([, s]) => spanS / s <= MAX_POINTS) ?? BUCKETS[BUCKETS.length - 1];
}
