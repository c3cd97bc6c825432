/**
 * The loopback servers the integration tests use. A test that needs one calls
 * `await requireServer("postgres")`: when the server is missing the test fails with a message
 * that says how to start it (in CI and locally alike: a missing server is never a silent pass).
 */
import net from "node:net";

export const SERVERS = {
	postgres: {
		host: "127.0.0.1",
		port: 5432,
		start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
	},
	redis: {
		host: "127.0.0.1",
		port: 6379,
		start: "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
	},
	nats: {
		host: "127.0.0.1",
		port: 4222,
		start:
			"start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p " +
			"4222 -js -sd /var/lib/nats-server"
	},
	mosquitto: { host: "127.0.0.1", port: 1883, start: "mosquitto -d -c /etc/mosquitto/mosquitto.conf" }
} as const;

export type ServerName = keyof typeof SERVERS;

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const NATS_URL = "nats://127.0.0.1:4222";
export const REDIS_URL = "redis://127.0.0.1:6379";
export const MQTT_URL = "mqtt://127.0.0.1:1883";

export function isReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
	return new Promise(resolve => {
		const socket = net.connect({ host, port });
		const done = (ok: boolean) => {
			socket.destroy();
			resolve(ok);
		};
		socket.setTimeout(timeoutMs, () => done(false));
		socket.once("connect", () => done(true));
		socket.once("error", () => done(false));
	});
}

export async function requireServer(name: ServerName): Promise<void> {
	const s = SERVERS[name];
	if (!(await isReachable(s.host, s.port))) {
		throw new Error(
			`${name} is not reachable on ${s.host}:${s.port}; this test needs it. Start it with: ${s.start}`
		);
	}
}
