/**
 * simulator: virtual devices so a new user sees data on the first `npm start`.
 *
 * Each family of virtual device is a mixin of this folder:
 *   devices.mixin.ts      serial boards on PTYs, a BME280 on the simulated I2C bus (plug/unplug)
 *   controllers.mixin.ts  FACES2-style MQTT field controllers with client certificates
 * SIMULATE=1 (the default of the all-in-one `npm start`) starts them; SIMULATE=0 leaves the
 * service idle, so a node given real hardware can still load every service file.
 */
import type { ServiceSchema } from "moleculer";
import { DevicesMixin } from "./devices.mixin";
import { ControllersMixin } from "./controllers.mixin";

const SimulatorService: ServiceSchema = {
	name: "simulator",
	mixins: [DevicesMixin, ControllersMixin],
	settings: { rest: "/simulator" }
};

export default SimulatorService;
