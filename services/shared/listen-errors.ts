/**
 * A listener that cannot listen stops the node with one line naming the variable to change
 * (PORT, HOST, MQTT_PORT, MQTTS_PORT), instead of a stack trace or a start-up that never ends.
 */
import { ConfigError } from "./env";

export function listenError(
	err: unknown,
	portVariable: string,
	port: number,
	host: string,
	hostVariable: string | null = null
): Error {
	const e = err as NodeJS.ErrnoException;
	switch (e?.code) {
		case "EADDRINUSE":
			return new ConfigError(
				portVariable,
				`port ${port} on ${host} is already in use by another process: choose a free ${portVariable}`
			);
		case "EACCES":
			return new ConfigError(
				portVariable,
				`port ${port} needs privileges this process does not have: choose a port above 1023`
			);
		case "ENOTFOUND":
		case "EAI_AGAIN":
		case "EAI_FAIL":
		case "EAI_NONAME":
			return new ConfigError(
				hostVariable ?? portVariable,
				`'${host}' does not resolve to an address of this machine`
			);
		case "EADDRNOTAVAIL":
			return new ConfigError(hostVariable ?? portVariable, `'${host}' is not an address of this machine`);
		default:
			return new ConfigError(portVariable, `cannot listen on ${host}:${port} (${e?.message ?? String(err)})`);
	}
}
