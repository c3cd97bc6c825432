/**
 * Device profiles (profiles/*.yaml): loading with validation, and matching a hotplug event to
 * the most specific profile.
 *
 * A bad file is reported with its file and field and skipped; the other files still load.
 */
import fs from "node:fs";
import path from "node:path";
import Validator from "fastest-validator";
import YAML from "yaml";
import { modbusMapSchema, type UdevProperties } from "../shared/contracts";
import { errorMessage } from "../shared/error-message";
import {
	DEVICE_INTERFACES,
	DEVICE_PROTOCOLS,
	LINE_FORMATS,
	type DeviceInterface,
	type DeviceProtocol,
	type LineFormat,
	type ModbusRegister
} from "../shared/contracts/devices";

export interface DatapointDef {
	label: string;
	unit?: string;
	/** Key in the device's output when it differs from the label (e.g. "t" → temperature). */
	key?: string;
}

export type { ModbusRegister } from "../shared/contracts/devices";

export interface Profile {
	/** File the profile came from (for messages). */
	file: string;
	name: string;
	type: string;
	description?: string;
	match: {
		vendor_id?: string;
		product_id?: string;
		vendor?: string;
		model?: string;
		serial?: string;
		subsystem?: string;
	};
	interface: DeviceInterface;
	link: { baudrate?: number; data_bits?: number; parity?: string; stop_bits?: number };
	protocol: DeviceProtocol;
	format?: LineFormat;
	config: { auto_reconnect: boolean; buffer_size: number; timeout: number };
	datapoints: DatapointDef[];
	modbus?: { unit_id: number; poll_ms: number; registers: ModbusRegister[] };
	i2c?: { addresses: number[]; chip_id?: { register: number; value: number }; poll_ms?: number };
}

export interface ProfileError {
	file: string;
	field: string;
	message: string;
}

const HEX4 = /^[0-9a-fA-F]{4}$/;

const v = new Validator({ haltOnFirstError: false });
const checkProfile = v.compile({
	$$strict: "remove",
	name: { type: "string", min: 1 },
	type: { type: "string", min: 1, optional: true },
	description: { type: "string", optional: true },
	match: {
		type: "object",
		props: {
			vendor_id: {
				type: "string",
				pattern: HEX4,
				optional: true,
				messages: { string: "must be a quoted 4-digit hex string like '2341'" }
			},
			product_id: {
				type: "string",
				pattern: HEX4,
				optional: true,
				messages: { string: "must be a quoted 4-digit hex string like '0043'" }
			},
			vendor: { type: "string", min: 1, optional: true },
			model: { type: "string", min: 1, optional: true },
			serial: { type: "string", min: 1, optional: true },
			subsystem: { type: "enum", values: ["tty", "usb", "i2c-dev"], optional: true }
		},
		minProps: 1
	},
	interface: { type: "enum", values: [...DEVICE_INTERFACES] },
	link: {
		type: "object",
		optional: true,
		props: {
			baudrate: { type: "number", integer: true, positive: true, optional: true },
			data_bits: { type: "enum", values: [5, 6, 7, 8], optional: true },
			parity: { type: "enum", values: ["none", "even", "odd", "mark", "space"], optional: true },
			stop_bits: { type: "enum", values: [1, 1.5, 2], optional: true }
		}
	},
	protocol: { type: "enum", values: [...DEVICE_PROTOCOLS] },
	format: { type: "enum", values: [...LINE_FORMATS], optional: true },
	config: {
		type: "object",
		optional: true,
		props: {
			auto_reconnect: { type: "boolean", optional: true },
			buffer_size: { type: "number", integer: true, min: 64, max: 16 * 1024 * 1024, optional: true },
			timeout: { type: "number", positive: true, max: 3600, optional: true }
		}
	},
	datapoints: {
		type: "array",
		min: 1,
		items: {
			type: "object",
			props: {
				label: { type: "string", pattern: /^[A-Za-z][\w.-]*$/ },
				unit: { type: "string", optional: true },
				key: { type: "string", optional: true }
			}
		}
	},
	modbus: modbusMapSchema(true),
	i2c: {
		type: "object",
		optional: true,
		props: {
			addresses: { type: "array", min: 1, items: { type: "number", integer: true, min: 3, max: 0x77 } },
			chip_id: {
				type: "object",
				optional: true,
				props: {
					register: { type: "number", integer: true, min: 0, max: 255 },
					value: { type: "number", integer: true, min: 0, max: 255 }
				}
			},
			poll_ms: { type: "number", integer: true, min: 10, optional: true }
		}
	}
});

export const DEFAULT_CONFIG = { auto_reconnect: true, buffer_size: 1024, timeout: 5 };

/** A profile file as written: what `checkProfile` accepts, before defaults are filled. */
type ProfileInput = Omit<Profile, "file" | "type" | "link" | "config"> & {
	type?: string;
	link?: Profile["link"];
	config?: Partial<Profile["config"]>;
};

/** Validates one parsed profile; returns it normalised or the list of errors. */
export function validateProfile(raw: unknown, file: string): { profile?: Profile; errors: ProfileError[] } {
	if (raw == null || typeof raw !== "object" || Array.isArray(raw))
		return { errors: [{ file, field: "(root)", message: "must be a mapping" }] };
	const obj = structuredClone(raw) as ProfileInput;
	const res = checkProfile(obj);
	const errors: ProfileError[] = [];
	if (res !== true)
		for (const e of res as Array<{ field?: string; message?: string }>)
			errors.push({ file, field: e.field ?? "(root)", message: e.message ?? "invalid" });
	// Cross-field rules the schema cannot say.
	if (obj.protocol === "modbus" && !obj.modbus)
		errors.push({ file, field: "modbus", message: "protocol modbus needs a modbus register map" });
	if (obj.protocol === "bme280" && obj.interface !== "i2c")
		errors.push({ file, field: "interface", message: "protocol bme280 is an i2c device" });
	if (obj.interface === "i2c" && !obj.i2c)
		errors.push({ file, field: "i2c", message: "an i2c profile needs i2c.addresses" });
	if (errors.length) return { errors };
	const profile: Profile = {
		file,
		name: obj.name,
		type: obj.type ?? obj.name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
		description: obj.description,
		match: {
			...obj.match,
			vendor_id: obj.match.vendor_id?.toLowerCase(),
			product_id: obj.match.product_id?.toLowerCase()
		},
		interface: obj.interface,
		link: obj.link ?? {},
		protocol: obj.protocol,
		format: obj.format,
		config: { ...DEFAULT_CONFIG, ...(obj.config ?? {}) },
		datapoints: obj.datapoints,
		modbus: obj.modbus,
		i2c: obj.i2c
	};
	return { profile, errors: [] };
}

/** Loads every *.yaml / *.yml of a directory: good profiles, and errors naming file and field. */
export function loadProfiles(dir: string): { profiles: Profile[]; errors: ProfileError[] } {
	const profiles: Profile[] = [];
	const errors: ProfileError[] = [];
	let files: string[];
	try {
		files = fs
			.readdirSync(dir)
			.filter(f => /\.ya?ml$/i.test(f))
			.sort();
	} catch (err) {
		return { profiles, errors: [{ file: dir, field: "(directory)", message: errorMessage(err) }] };
	}
	for (const f of files) {
		const file = path.join(dir, f);
		let doc: unknown;
		try {
			const parsed = YAML.parseDocument(fs.readFileSync(file, "utf8"));
			if (parsed.errors.length) throw new Error(parsed.errors[0].message);
			doc = parsed.toJS();
		} catch (err) {
			errors.push({ file, field: "(yaml)", message: errorMessage(err).split("\n")[0] });
			continue;
		}
		const res = validateProfile(doc, file);
		if (res.profile) profiles.push(res.profile);
		errors.push(...res.errors);
	}
	return { profiles, errors };
}

/** Case-insensitive glob (* and ?) over a value where udev's '_' stands for a space. */
export function globMatch(pattern: string, value: string | undefined): boolean {
	if (value == null) return false;
	const norm = (s: string) => s.replace(/_/g, " ").toLowerCase();
	const re = new RegExp(
		"^" +
			norm(pattern)
				.replace(/[.+^${}()|[\]\\]/g, "\\$&")
				.replace(/\*/g, ".*")
				.replace(/\?/g, ".") +
			"$"
	);
	return re.test(norm(value));
}

export interface MatchInput {
	subsystem: string;
	properties: UdevProperties;
}

/** Weight of each criterion: a model or serial pattern says more than a (shared) chip id. */
const WEIGHTS = { vendor_id: 1, product_id: 2, subsystem: 1, vendor: 2, model: 4, serial: 4 } as const;

/** Specificity score of a profile for a device, or -1 when any of its criteria fails. */
export function scoreProfile(p: Profile, dev: MatchInput): number {
	const props = dev.properties;
	const vid = props.ID_VENDOR_ID?.toLowerCase();
	const pid = (props.ID_MODEL_ID ?? props.ID_PRODUCT_ID)?.toLowerCase();
	let score = 0;
	const m = p.match;
	if (m.vendor_id) {
		if (m.vendor_id !== vid) return -1;
		score += WEIGHTS.vendor_id;
	}
	if (m.product_id) {
		if (m.product_id !== pid) return -1;
		score += WEIGHTS.product_id;
	}
	if (m.subsystem) {
		if (m.subsystem !== dev.subsystem) return -1;
		score += WEIGHTS.subsystem;
	}
	if (m.vendor) {
		if (!globMatch(m.vendor, props.ID_VENDOR) && !globMatch(m.vendor, props.ID_VENDOR_FROM_DATABASE)) return -1;
		score += WEIGHTS.vendor;
	}
	if (m.model) {
		if (!globMatch(m.model, props.ID_MODEL) && !globMatch(m.model, props.ID_MODEL_FROM_DATABASE)) return -1;
		score += WEIGHTS.model;
	}
	if (m.serial) {
		if (!globMatch(m.serial, props.ID_SERIAL_SHORT) && !globMatch(m.serial, props.ID_SERIAL)) return -1;
		score += WEIGHTS.serial;
	}
	return score;
}

/** The most specific matching profile (ties: the first file in name order), or null. */
export function matchProfile(profiles: Profile[], dev: MatchInput): Profile | null {
	let best: Profile | null = null;
	let bestScore = 0;
	for (const p of profiles) {
		const s = scoreProfile(p, dev);
		if (s > bestScore) {
			best = p;
			bestScore = s;
		}
	}
	return best;
}
