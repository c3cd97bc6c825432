/**
 * Start-up the pipeline benchmarks share (bench/pipeline, bench/peers): their command-line
 * options and their FACES2 controllers, copied in the database from the one the migrations seed.
 */

/** `--name value` from the command line, else `fallback`. */
export function option(name: string, fallback: string, argv = process.argv.slice(2)): string {
	const i = argv.indexOf(`--${name}`);
	return i >= 0 ? argv[i + 1] : fallback;
}

/** `n` controller MACs, aa:bb:cc:dd:ef:00 upwards (apart from the seeded aa:bb:cc:dd:ee:xx ones). */
export function benchMacs(n: number): string[] {
	return Array.from({ length: n }, (_, i) => `aa:bb:cc:dd:ef:${i.toString(16).padStart(2, "0")}`);
}

/** What runs a query: a pg Client, a pool or the project's Database. */
type Query = (text: string, values: unknown[]) => Promise<unknown>;

/** Registers each MAC as a controller with the sensors and datapoints of the seeded aa:bb:cc:dd:ee:01. */
export async function seedControllers(query: Query, macs: string[]): Promise<void> {
	for (const mac of macs) {
		await query(
			`INSERT INTO devices (uid, name, type, mac) VALUES ($1, $1, 'faces2-controller', $2)
			 ON CONFLICT DO NOTHING`,
			[`f2-${mac.replace(/:/g, "")}`, mac]
		);
		await query(
			`INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length)
			 SELECT (SELECT id FROM devices WHERE mac = $1), sensor, name, frame_length FROM pipeline_sensors
			 WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01') ON CONFLICT DO NOTHING`,
			[mac]
		);
		await query(
			`INSERT INTO datapoints (device_id, label, unit, decoding)
			 SELECT (SELECT id FROM devices WHERE mac = $1), label, unit, decoding FROM datapoints
			 WHERE device_id = (SELECT id FROM devices WHERE mac = 'aa:bb:cc:dd:ee:01') ON CONFLICT DO NOTHING`,
			[mac]
		);
	}
}
