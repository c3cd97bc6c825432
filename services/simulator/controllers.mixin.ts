/**
 * Simulated FACES2 field controllers: the four MACs aa:bb:cc:dd:ee:01..04, each with
 * a client certificate from the signing CA (signing.issueDeviceCert), publishing a sensor-1
 * (environment) and a sensor-2 (power) frame every SIM_CONTROLLER_INTERVAL_MS on
 * stat/f2-<mac>/sensor-mode/normal/sensor-<n>.
 *
 * Where they connect:
 *   MQTT_URL unset        the pipeline's embedded broker, mqtts://127.0.0.1:MQTTS_PORT (mTLS)
 *   MQTT_URL=mqtts://…    that broker, with the client certificate (Mosquitto's port 8883)
 *   MQTT_URL=mqtt://…     that broker without TLS (a local, plain Mosquitto)
 *
 *   simulator.controllers                 → each controller: connected, frames sent
 *   simulator.controllers.start / .stop   → start or stop publishing (all, or one MAC)
 */
import type { Context, Service } from "moleculer";
import { Errors } from "moleculer";
import mqtt from "mqtt";
import { fleetEnv } from "../shared/broker-env";
import { createKeyAndCsr } from "../shared/csr";
import { controllerId, controllerTopic, encodePayload, FACES2_LAYOUT, simulatedValues } from "./controllers-frames";
import { errorMessage } from "../shared/error-message";
import { defineMixin } from "../shared/define-service";

export const SIMULATED_CONTROLLER_MACS = [
	"aa:bb:cc:dd:ee:01",
	"aa:bb:cc:dd:ee:02",
	"aa:bb:cc:dd:ee:03",
	"aa:bb:cc:dd:ee:04"
];

interface Controller {
	mac: string;
	index: number;
	client: mqtt.MqttClient | null;
	timer: NodeJS.Timeout | null;
	framesSent: number;
	energyWh: number;
	lastError: string | null;
}

type ControllersThis = Service & {
	controllers: Map<string, Controller>;
	controllersStarting: Promise<void> | null;
	startController(mac: string): Promise<Controller>;
	stopController(c: Controller): Promise<void>;
	publishFrames(c: Controller): void;
};

/** Waits for a service of the mesh, giving up when the node stops. */
async function waitForService(svc: Service, name: string): Promise<void> {
	while (!svc.broker.stopping) {
		try {
			await svc.broker.waitForServices([name], 10_000);
			return;
		} catch {
			svc.logger.info(`simulator: waiting for the ${name} service`);
		}
	}
	throw new Error("node stopping");
}

export const ControllersMixin = defineMixin<ControllersThis>({
	actions: {
		controllers: {
			rest: "GET /controllers",
			handler(this: ControllersThis) {
				return [...this.controllers.values()].map(c => ({
					mac: c.mac,
					commonName: controllerId(c.mac),
					connected: !!c.client?.connected,
					publishing: c.timer != null,
					framesSent: c.framesSent,
					lastError: c.lastError
				}));
			}
		},

		"controllers.start": {
			rest: "POST /controllers/start",
			auth: "admin",
			params: { mac: { type: "string", pattern: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, optional: true } },
			async handler(this: ControllersThis, ctx: Context<{ mac?: string }>) {
				const macs = ctx.params.mac ? [ctx.params.mac] : SIMULATED_CONTROLLER_MACS;
				for (const mac of macs) if (!this.controllers.get(mac)?.timer) await this.startController(mac);
				return { started: macs };
			}
		},

		"controllers.stop": {
			rest: "POST /controllers/stop",
			auth: "admin",
			params: { mac: { type: "string", pattern: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, optional: true } },
			async handler(this: ControllersThis, ctx: Context<{ mac?: string }>) {
				const list = ctx.params.mac ? [this.controllers.get(ctx.params.mac)] : [...this.controllers.values()];
				if (ctx.params.mac && !list[0])
					throw new Errors.MoleculerClientError(
						`no simulated controller ${ctx.params.mac}`,
						404,
						"NOT_FOUND"
					);
				for (const c of list) if (c) await this.stopController(c);
				return { stopped: list.filter(Boolean).map(c => c!.mac) };
			}
		}
	},

	methods: {
		async startController(this: ControllersThis, mac: string) {
			const env = fleetEnv(this.broker);
			const index = SIMULATED_CONTROLLER_MACS.indexOf(mac);
			const c: Controller = this.controllers.get(mac) ?? {
				mac,
				index: index < 0 ? 0 : index,
				client: null,
				timer: null,
				framesSent: 0,
				energyWh: 0,
				lastError: null
			};
			this.controllers.set(mac, c);
			const url = env.mqttUrl ?? `mqtts://127.0.0.1:${env.mqttsPort}`;
			const opts: mqtt.IClientOptions = {
				clientId: `${controllerId(mac)}-sim`,
				reconnectPeriod: 2000,
				connectTimeout: 10_000,
				clean: true
			};
			if (url.startsWith("mqtts:") || url.startsWith("ssl:")) {
				// A certificate of its own, as a real controller is provisioned (POST /api/certs/devices).
				await waitForService(this, "signing");
				// The key is made here and stays here; signing sees only the request.
				const { keyPem, csrPem } = await createKeyAndCsr(controllerId(mac));
				const cert = await this.broker.call<{ cert: string; ca: string }, { mac: string; csr: string }>(
					"signing.issueDeviceCert",
					{ mac, csr: csrPem }
				);
				Object.assign(opts, {
					cert: cert.cert,
					key: keyPem,
					ca: cert.ca,
					servername: "localhost",
					rejectUnauthorized: true
				});
			}
			if (this.broker.stopping) return c;
			c.client = mqtt.connect(url, opts);
			c.client.on("error", err => {
				c.lastError = err.message;
			});
			c.client.on("connect", () => {
				c.lastError = null;
			});
			c.timer = setInterval(() => this.publishFrames(c), env.simControllerIntervalMs);
			this.logger.info(
				`simulator: controller ${controllerId(mac)} publishing to ${url} every ` +
					`${env.simControllerIntervalMs} ms`
			);
			return c;
		},

		async stopController(this: ControllersThis, c: Controller) {
			if (c.timer) clearInterval(c.timer);
			c.timer = null;
			const client = c.client;
			c.client = null;
			if (client) await client.endAsync(true).catch(() => undefined);
		},

		publishFrames(this: ControllersThis, c: Controller) {
			// Frames are dropped while disconnected, as a real controller without a buffer would.
			if (!c.client?.connected) return;
			const now = Date.now();
			c.energyWh += 0.5;
			const values = simulatedValues(c.index, now, Math.floor(c.energyWh));
			for (const sensor of [1, 2]) {
				const payload = encodePayload(FACES2_LAYOUT[sensor], values[sensor], now);
				c.client.publish(controllerTopic(c.mac, sensor), payload, { qos: 1 });
				c.framesSent++;
			}
		}
	},

	created(this: ControllersThis) {
		this.controllers = new Map();
		this.controllersStarting = null;
	},

	started(this: ControllersThis) {
		if (!fleetEnv(this.broker).simulate) return;
		// In the background: the signing service (certificates) and the broker may start later.
		this.controllersStarting = (async () => {
			for (const mac of SIMULATED_CONTROLLER_MACS) {
				try {
					await this.startController(mac);
				} catch (err) {
					if (!this.broker.stopping)
						this.logger.warn(`simulator: controller ${mac} not started: ${errorMessage(err)}`);
				}
			}
		})();
	},

	async stopped(this: ControllersThis) {
		for (const c of this.controllers.values()) await this.stopController(c);
	}
});
