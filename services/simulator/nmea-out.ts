/** NMEA checksum for the simulated GPS (XOR of the characters between '$' and '*'). */
export function nmeaChecksum(body: string): string {
	let x = 0;
	for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
	return x.toString(16).toUpperCase().padStart(2, "0");
}
