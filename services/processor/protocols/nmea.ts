/**
 * NMEA 0183: GGA (fix) and RMC (recommended minimum) sentences, checksum verified.
 * Any talker (GP, GN, GL, GA, BD). Other sentence types are recognised and ignored.
 */

export type NmeaResult =
	| { ok: true; type: string; values: Record<string, number> }
	| { ok: false; reason: string }
	| { ok: "ignored"; type: string };

/** XOR of the characters between '$' and '*', as two hex digits. */
export function nmeaChecksum(body: string): string {
	let x = 0;
	for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
	return x.toString(16).toUpperCase().padStart(2, "0");
}

/** Appends the checksum: "GPGGA,…" → "$GPGGA,…*47". */
export function nmeaSentence(body: string): string {
	return `$${body}*${nmeaChecksum(body)}`;
}

/** ddmm.mmmm + hemisphere → signed decimal degrees. */
export function nmeaCoord(value: string, hemi: string, degDigits: number): number | null {
	if (!value) return null;
	if (!/^\d+(\.\d+)?$/.test(value)) return null;
	const deg = Number(value.slice(0, degDigits));
	const min = Number(value.slice(degDigits));
	if (!(min < 60)) return null;
	const dd = deg + min / 60;
	if (hemi === "S" || hemi === "W") return -dd;
	if (hemi === "N" || hemi === "E") return dd;
	return null;
}

function num(s: string | undefined): number | null {
	if (s == null || s === "") return null;
	const n = Number(s);
	return Number.isFinite(n) ? n : null;
}

export function parseNmea(line: string): NmeaResult {
	const text = line.trim();
	const m = /^\$([^*$]*)\*([0-9A-Fa-f]{2})$/.exec(text);
	if (!text.startsWith("$")) return { ok: false, reason: "not an NMEA sentence" };
	if (!m) return { ok: false, reason: "NMEA sentence without checksum" };
	const body = m[1];
	if (nmeaChecksum(body) !== m[2].toUpperCase())
		return {
			ok: false,
			reason: `NMEA checksum mismatch (got ${m[2].toUpperCase()}, computed ${nmeaChecksum(body)})`
		};
	const f = body.split(",");
	const type = f[0].slice(2);
	const values: Record<string, number> = {};
	const put = (k: string, v: number | null) => {
		if (v != null) values[k] = v;
	};
	if (type === "GGA") {
		// GGA,time,lat,N,lon,E,quality,sats,hdop,alt,M,geoid,M,age,station
		if (f.length < 10) return { ok: false, reason: "GGA sentence too short" };
		const quality = num(f[6]);
		put("fix_quality", quality);
		put("satellites", num(f[7]));
		if (quality) {
			put("latitude", nmeaCoord(f[2], f[3], 2));
			put("longitude", nmeaCoord(f[4], f[5], 3));
			put("hdop", num(f[8]));
			put("altitude", num(f[9]));
		}
		return { ok: true, type, values };
	}
	if (type === "RMC") {
		// RMC,time,status,lat,N,lon,E,speed(kn),course,date,magvar,E[,mode]
		if (f.length < 10) return { ok: false, reason: "RMC sentence too short" };
		if (f[2] === "A") {
			put("latitude", nmeaCoord(f[3], f[4], 2));
			put("longitude", nmeaCoord(f[5], f[6], 3));
			put("speed", num(f[7]));
			put("course", num(f[8]));
		}
		return { ok: true, type, values };
	}
	return { ok: "ignored", type };
}
