/**
 * The local builder with real processes: an ImageBuilder directory whose Makefile hands its
 * goals to the simulated ImageBuilder command, copied per job, `make` run in it, BIN_DIR copied
 * into the store. No real ImageBuilder exists here; everything around it is the real code.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBuild } from "../../services/builds-worker/build-flow";
import { LocalBuilder } from "../../services/builds-worker/builders/local";
import { requestHash } from "../../services/shared/asu/hash";
import { parseBuildRequest } from "../../services/shared/asu/request";
import { tempDir } from "../helpers/broker";
import { ROOT } from "../helpers/node-process";

const ibRoot = tempDir("local-ib");
const store = tempDir("local-store");
const ibDir = path.join(ibRoot, "24.10.2", "ath79-generic");
fs.mkdirSync(ibDir, { recursive: true });
const vars = [
	"PROFILE",
	"PACKAGES",
	"EXTRA_IMAGE_NAME",
	"BIN_DIR",
	"FILES",
	"ROOTFS_PARTSIZE",
	"ROOTFS_FILESYSTEM",
	"STRIP_ABI"
];
fs.writeFileSync(
	path.join(ibDir, "Makefile"),
	[
		`export SIM_IB_VERSION := 24.10.2`,
		`export SIM_IB_TARGET := ath79/generic`,
		`export SIM_IB_IMAGE_KIB := 8`,
		".PHONY: info manifest image",
		"info manifest image:",
		`\t@${path.join(ROOT, "node_modules/.bin/tsx")} ` +
			`${path.join(ROOT, "services/builds-worker/simulated-ib-cli.ts")} $@ ` +
			`${vars.map(v => `"${v}=$(${v})"`).join(" ")}`,
		""
	].join("\n")
);

afterAll(() => {
	fs.rmSync(ibRoot, { recursive: true, force: true });
	fs.rmSync(store, { recursive: true, force: true });
});

describe("local builder", () => {
	it("builds in a copy of the ImageBuilder and stores the images with their sha256", async () => {
		const builder = new LocalBuilder(ibRoot);
		expect(await builder.check()).toBeNull();
		const p = parseBuildRequest({
			version: "24.10.2",
			target: "ath79/generic",
			profile: "tplink_archer-c7-v5",
			packages: ["tmux"],
			defaults: "echo hi"
		});
		if (!p.ok) throw new Error("bad request");
		const hash = requestHash(p.request);
		const statuses: string[] = [];
		const result = await runBuild({
			request: p.request,
			requestHash: hash,
			builder,
			storeDir: store,
			signal: new AbortController().signal,
			setMeta: async m => void statuses.push(m.imagebuilder_status ?? "")
		});
		expect(statuses).toEqual(
			expect.arrayContaining([
				"init",
				"container_setup",
				"validate_revision",
				"validate_manifest",
				"building_image",
				"done"
			])
		);
		expect(result.build_cmd).toEqual(
			expect.arrayContaining([
				"make",
				"image",
				"PROFILE=tplink_archer-c7-v5",
				expect.stringMatching(/^FILES=.*asu-files$/)
			])
		);
		expect((result.manifest as Record<string, string>).tmux).toBe("3.5a-r1");
		const images = result.images as Array<{ name: string; sha256: string }>;
		expect(images).toHaveLength(2);
		for (const i of images)
			expect(
				crypto
					.createHash("sha256")
					.update(fs.readFileSync(path.join(store, hash, i.name)))
					.digest("hex")
			).toBe(i.sha256);
		// The ImageBuilder itself is untouched: each job worked in a copy.
		expect(fs.readdirSync(ibDir)).toEqual(["Makefile"]);
	});

	it("says why it cannot run, and fails a version it has no ImageBuilder for", async () => {
		expect(await new LocalBuilder(null).check()).toMatch(/ASU_LOCAL_IB_DIR is not set/);
		const p = parseBuildRequest({ version: "23.05.5", target: "ath79/generic", profile: "tplink_archer-c7-v5" });
		if (!p.ok) throw new Error("bad request");
		await expect(
			runBuild({
				request: p.request,
				requestHash: "e".repeat(64),
				builder: new LocalBuilder(ibRoot),
				storeDir: store,
				signal: new AbortController().signal,
				setMeta: async () => undefined
			})
		).rejects.toThrow(/^Error: Image not found: /);
	});
});
