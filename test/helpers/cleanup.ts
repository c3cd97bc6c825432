/** Removes what a test left on the shared servers (JetStream streams, Redis keys) under its namespace. */
import { connect } from "nats";
import Redis from "ioredis";
import { NATS_URL, REDIS_URL } from "./servers";

export async function deleteNatsStreams(namespace: string): Promise<void> {
	const nc = await connect({ servers: new URL(NATS_URL).host });
	try {
		const jsm = await nc.jetstreamManager();
		for await (const s of jsm.streams.list()) {
			if (s.config.name.startsWith(namespace)) await jsm.streams.delete(s.config.name).catch(() => undefined);
		}
	} finally {
		await nc.close();
	}
}

export async function deleteRedisKeys(namespace: string): Promise<void> {
	const redis = new Redis(REDIS_URL);
	try {
		let cursor = "0";
		do {
			const [next, keys] = await redis.scan(cursor, "MATCH", `${namespace}*`, "COUNT", 500);
			cursor = next;
			if (keys.length) await redis.del(...keys);
		} while (cursor !== "0");
	} finally {
		redis.disconnect();
	}
}
