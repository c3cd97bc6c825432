/** The start-up summary: box and log line contents, the 0600 password file, printing after a pause. */
import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/broker";
import {
	BANNER_QUIET_MS,
	addStartNotes,
	printStartBanner,
	startBanner,
	startSummaryLine,
	writeAdminPasswordFile
} from "../../services/shared/first-start";

describe("first-start summary", () => {
	it("draws one box with the dashboard URL, the e-mail, the password and its file", () => {
		const box = startBanner({
			dashboardUrl: "http://localhost:3000/",
			adminEmail: "admin@x.test",
			adminPassword: "pw-123",
			passwordFile: "/data/admin-password.txt"
		})!;
		expect(box[0]).toMatch(/^\+-+\+$/);
		expect(box.at(-1)).toBe(box[0]);
		expect(new Set(box.map(l => l.length)).size).toBe(1);
		const text = box.join("\n");
		for (const s of ["http://localhost:3000/", "admin@x.test", "pw-123", "/data/admin-password.txt"])
			expect(text).toContain(s);
		expect(box.length).toBeLessThan(14);
		expect(startBanner({})).toBeNull();
	});

	it("says where the password is on later starts, without printing it", () => {
		const line = startSummaryLine({
			dashboardUrl: "http://localhost:3000/",
			adminEmail: "admin@x.test",
			passwordFile: "/d/admin-password.txt"
		})!;
		expect(line).toBe(
			"start-up summary: dashboard http://localhost:3000/; sign in as admin@x.test (password: see " +
				"/d/admin-password.txt)"
		);
	});

	it("writes the password file readable by the owner only", () => {
		const dir = tempDir("first-start");
		const file = writeAdminPasswordFile(dir, "admin@x.test", "pw-456")!;
		expect(file).toBe(path.join(dir, "admin-password.txt"));
		expect(fs.statSync(file).mode & 0o777).toBe(0o600);
		expect(fs.readFileSync(file, "utf8")).toContain("password: pw-456");
	});

	it("prints once the output pauses, and the password only once", async () => {
		addStartNotes({ dashboardUrl: "http://localhost:1/", adminEmail: "a@x.test", adminPassword: "pw-789" });
		const out = new PassThrough() as unknown as NodeJS.WriteStream;
		let text = "";
		(out as unknown as PassThrough).on("data", d => (text += d));
		printStartBanner({ info: () => undefined }, false, out);
		const until = Date.now() + BANNER_QUIET_MS * 0.8;
		while (Date.now() < until) {
			out.write("device line\n");
			await new Promise(r => setTimeout(r, 100));
		}
		expect(text).not.toContain("pw-789");
		await new Promise(r => setTimeout(r, BANNER_QUIET_MS + 400));
		expect(text.split("pw-789").length - 1).toBe(1);
		expect(text.trimEnd().endsWith("+")).toBe(true);
		const lines: string[] = [];
		printStartBanner({ info: l => lines.push(l) }, true, out);
		await new Promise(r => setTimeout(r, BANNER_QUIET_MS + 400));
		expect(lines).toHaveLength(1);
		expect(lines[0]).not.toContain("pw-789");
	});
});
