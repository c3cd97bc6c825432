/**
 * processor: opens the devices of this node (serial, I2C), reads them with their protocol and
 * publishes readings in batches to the durable `telemetry.readings` channel (docs/architecture.md), and
 * to MQTT `devices/<id>/telemetry/<datapoint>` when MQTT_URL is set.
 *
 * Called by the manager with { nodeID } of this node; keeps streaming when the manager's node
 * goes away (nothing here depends on it after `open`).
 */
import type { Context, Service } from "moleculer";
import { Errors } from "moleculer";
import type { MqttClient } from "mqtt";
import { BatchPublisher } from "../../mixins/batch-publisher";
import { registerHealthCheck } from "../../mixins/health";
import { fleetEnv } from "../shared/broker-env";
import {
	CHANNELS,
	EVENTS,
	modbusMapSchema,
	packReadings,
	type DeviceCloseRequest,
	type DeviceOpenRequest,
	type DeviceStatus,
	type DeviceWriteRequest,
	type DeviceStatusEvent,
	type Reading
} from "../shared/contracts";
import { NotFoundError } from "../shared/errors";
import { openI2cBus } from "./links/i2c";
import { DeviceSession } from "./session";
import { errorMessage } from "../shared/error-message";
import { DEVICE_INTERFACES, DEVICE_PROTOCOLS, LINE_FORMATS } from "../shared/contracts/devices";
import { defineService } from "../shared/define-service";

type ProcessorThis = Service & {
	sessions: Map<number, DeviceSession>;
	publisher: BatchPublisher<Reading>;
	mqtt: MqttClient | null;
	labels: Map<number, Map<number, string>>;
	dropped: number;
	publish(readings: Reading[]): void;
};

const openParams = {
	deviceId: { type: "number", integer: true, positive: true },
	device: { type: "string", min: 1 },
	fallbackDevice: { type: "string", optional: true },
	profile: {
		type: "object",
		props: {
			name: { type: "string" },
			interface: { type: "enum", values: [...DEVICE_INTERFACES] },
			protocol: { type: "enum", values: [...DEVICE_PROTOCOLS] },
			baudrate: { type: "number", integer: true, positive: true, optional: true },
			format: { type: "enum", values: [...LINE_FORMATS], optional: true },
			modbus: modbusMapSchema(false),
			i2c: {
				type: "object",
				optional: true,
				props: {
					address: { type: "number", integer: true, min: 3, max: 0x77 },
					poll_ms: { type: "number", optional: true }
				}
			}
		}
	},
	config: {
		type: "object",
		props: {
			auto_reconnect: { type: "boolean" },
			buffer_size: { type: "number", integer: true, min: 64 },
			timeout: { type: "number", positive: true }
		}
	},
	datapoints: {
		type: "array",
		items: {
			type: "object",
			props: {
				label: "string",
				id: { type: "number", integer: true, positive: true },
				key: { type: "string", optional: true }
			}
		}
	}
} as const;

const ProcessorService = defineService<ProcessorThis>({
	name: "processor",

	actions: {
		/** Opens (or reopens with a new configuration) a device on this node. */
		open: {
			params: openParams,
			async handler(this: ProcessorThis, ctx: Context<DeviceOpenRequest>) {
				const req = ctx.params;
				if (req.profile.protocol === "modbus" && !req.profile.modbus)
					throw new Errors.ValidationError("protocol modbus needs profile.modbus", "VALIDATION_ERROR", {});
				if (req.profile.interface === "i2c" && !req.profile.i2c)
					throw new Errors.ValidationError("an i2c device needs profile.i2c.address", "VALIDATION_ERROR", {});
				const old = this.sessions.get(req.deviceId);
				if (old) {
					this.sessions.delete(req.deviceId);
					await old.stop();
				}
				this.labels.set(req.deviceId, new Map(req.datapoints.map(d => [d.id, d.label])));
				const session: DeviceSession = new DeviceSession(req, {
					broker: this.broker,
					log: this.logger,
					onReadings: readings => this.publish(readings),
					onStatus: (status: DeviceStatus, reason?: string) => {
						if (this.sessions.get(req.deviceId) !== session) return;
						const ev: DeviceStatusEvent = {
							deviceId: req.deviceId,
							nodeID: this.broker.nodeID,
							status,
							at: new Date().toISOString(),
							...(reason ? { reason } : {})
						};
						void this.broker.emit(EVENTS.deviceStatus, ev);
					}
				});
				this.sessions.set(req.deviceId, session);
				try {
					await session.start();
				} catch (err) {
					this.sessions.delete(req.deviceId);
					throw new Errors.MoleculerError(
						`cannot open ${req.device}: ${errorMessage(err)}`,
						500,
						"DEVICE_OPEN_FAILED",
						{ deviceId: req.deviceId }
					);
				}
				return {
					deviceId: req.deviceId,
					nodeID: this.broker.nodeID,
					path: session.openedPath,
					status: session.status
				};
			}
		},
		close: {
			params: { deviceId: { type: "number", integer: true, positive: true } },
			async handler(this: ProcessorThis, ctx: Context<DeviceCloseRequest>) {
				const s = this.sessions.get(ctx.params.deviceId);
				if (!s) return { deviceId: ctx.params.deviceId, closed: false };
				this.sessions.delete(ctx.params.deviceId);
				await s.stop();
				return { deviceId: ctx.params.deviceId, closed: true, stats: s.stats };
			}
		},
		list: {
			params: {},
			handler(this: ProcessorThis) {
				return {
					nodeID: this.broker.nodeID,
					publisher: this.publisher.stats,
					devices: [...this.sessions.values()].map(s => ({
						deviceId: s.deviceId,
						name: s.req.profile.name,
						path: s.openedPath,
						protocol: s.req.profile.protocol,
						baudrate: s.req.profile.baudrate,
						config: s.req.config,
						status: s.status,
						openedAt: s.openedAt,
						stats: s.stats
					}))
				};
			}
		},
		/** Sends a line, or a register write (Modbus, I2C), to an open device (automation uses it). */
		write: {
			params: {
				deviceId: { type: "number", integer: true, positive: true },
				line: { type: "string", max: 4096, optional: true },
				register: { type: "number", integer: true, min: 0, max: 65535, optional: true },
				value: { type: "number", integer: true, optional: true }
			},
			async handler(this: ProcessorThis, ctx: Context<DeviceWriteRequest>) {
				const s = this.sessions.get(ctx.params.deviceId);
				if (!s) throw new NotFoundError("open device", ctx.params.deviceId);
				try {
					await s.write(ctx.params);
				} catch (err) {
					throw new Errors.MoleculerClientError(errorMessage(err), 409, "DEVICE_WRITE_FAILED", {
						deviceId: ctx.params.deviceId
					});
				}
				return { ok: true };
			}
		},
		/** Which of the given addresses answer on an I2C bus of this node (with the expected chip id). */
		probe: {
			params: {
				path: { type: "string", min: 1 },
				probes: {
					type: "array",
					max: 128,
					items: {
						type: "object",
						props: {
							address: { type: "number", integer: true, min: 3, max: 0x77 },
							register: { type: "number", optional: true },
							expect: { type: "number", optional: true },
							profile: { type: "string", optional: true }
						}
					}
				}
			},
			async handler(
				this: ProcessorThis,
				ctx: Context<{
					path: string;
					probes: Array<{ address: number; register?: number; expect?: number; profile?: string }>;
				}>
			) {
				const bus = await openI2cBus(this.broker, ctx.params.path);
				const found = [];
				try {
					for (const p of ctx.params.probes) {
						try {
							const v = await bus.readByte(p.address, p.register ?? 0);
							if (p.expect == null || v === p.expect)
								found.push({ address: p.address, profile: p.profile, value: v });
						} catch {
							/* nothing at this address */
						}
					}
				} finally {
					await bus.close?.().catch(() => undefined);
				}
				return found;
			}
		}
	},

	methods: {
		publish(this: ProcessorThis, readings: Reading[]) {
			void this.publisher.push(...readings);
			if (this.mqtt?.connected) {
				for (const r of readings) {
					const label = this.labels.get(r.deviceId)?.get(r.datapointId) ?? String(r.datapointId);
					this.mqtt.publish(
						`devices/${r.deviceId}/telemetry/${label}`,
						JSON.stringify({ value: r.value, ts: r.ts, datapointId: r.datapointId }),
						{ qos: 0 }
					);
				}
			}
		}
	},

	created(this: ProcessorThis) {
		this.sessions = new Map();
		this.labels = new Map();
		this.mqtt = null;
		this.publisher = new BatchPublisher<Reading>(this.broker, CHANNELS.telemetryReadings, {
			field: "readings",
			encode: packReadings,
			maxItems: 1000,
			flushMs: 20,
			maxBuffered: 200_000,
			onDrop: (count, reason) => this.logger.warn(`processor: dropped ${count} readings: ${reason}`)
		}).registerHealth();
	},

	async started(this: ProcessorThis) {
		const env = fleetEnv(this.broker);
		if (env.mqttUrl) {
			const mqtt = await import("mqtt");
			this.mqtt = mqtt.connect(env.mqttUrl, {
				clientId: `fleetmesh-processor-${this.broker.nodeID}`,
				reconnectPeriod: 2000
			});
			this.mqtt.on("error", err => this.logger.warn(`processor: MQTT ${err.message}`));
			registerHealthCheck(this.broker, "processor-mqtt", async () => {
				if (!this.mqtt?.connected) throw new Error("MQTT not connected");
				return env.mqttUrl;
			});
		}
	},

	async stopped(this: ProcessorThis) {
		await Promise.all([...this.sessions.values()].map(s => s.stop().catch(() => undefined)));
		this.sessions.clear();
		await this.publisher.close(3000);
		if (this.mqtt) await this.mqtt.endAsync().catch(() => undefined);
	}
});

export default ProcessorService;
