/**
 * The users table (t_users) and revoked tokens (t_blacklist_tokens): every query of the signing
 * service, as plain functions over an `Sql`, so the CLI (`npm run admin`) uses the same ones.
 */
import crypto from "node:crypto";
import type { Sql } from "../../mixins/db.mixin";
import type { UserState } from "../shared/contracts/tokens";
import type { UserRole, UserView } from "../shared/contracts/api";
import { hashPassword } from "./passwords";

export interface UserRow {
	id: number;
	email: string;
	is_admin: boolean;
	token_version: number;
	created_at: string | Date;
	updated_at: string | Date;
}

const COLUMNS = "id, email, is_admin, token_version, created_at, updated_at";

const iso = (t: string | Date) => (t instanceof Date ? t : new Date(t)).toISOString();

export const roleOf = (isAdmin: boolean): UserRole => (isAdmin ? "admin" : "user");

/** A row as the API shows a user (the one mapper): never the hash, never the session version. */
export function toUserView(r: UserRow): UserView {
	return {
		id: r.id,
		email: r.email,
		role: roleOf(r.is_admin),
		createdAt: iso(r.created_at),
		updatedAt: iso(r.updated_at)
	};
}

export function stateOf(r: Pick<UserRow, "id" | "is_admin" | "token_version">): UserState {
	return { id: r.id, is_admin: r.is_admin, token_version: Number(r.token_version), deleted: false };
}

export const deletedState = (id: number): UserState => ({ id, is_admin: false, token_version: -1, deleted: true });

export async function emailExists(sql: Sql, email: string): Promise<boolean> {
	return (await sql.query("SELECT 1 FROM t_users WHERE email = $1", [email])).length > 0;
}

/** Inserts a user; null when the address exists (the unique key decides between concurrent registrations). */
export async function insertUser(sql: Sql, email: string, hash: string, isAdmin = false): Promise<UserRow | null> {
	const rows = await sql.query<UserRow>(
		`INSERT INTO t_users (email, password, is_admin) VALUES ($1, $2, $3) ON CONFLICT (email) DO ` +
			`NOTHING RETURNING ${COLUMNS}`,
		[email, hash, isAdmin]
	);
	return rows[0] ?? null;
}

/** The first administrator, only while there are no users at all (two signing nodes starting together create one). */
export async function insertFirstAdmin(sql: Sql, email: string, hash: string): Promise<boolean> {
	const rows = await sql.query(
		"INSERT INTO t_users (email, password, is_admin) SELECT $1, $2, true WHERE NOT EXISTS (SELECT 1 " +
			"FROM t_users) ON CONFLICT (email) DO NOTHING RETURNING id",
		[email, hash]
	);
	return rows.length > 0;
}

export async function firstAdminEmail(sql: Sql): Promise<string | null> {
	const rows = await sql.query<{ email: string }>("SELECT email FROM t_users WHERE is_admin ORDER BY id LIMIT 1");
	return rows[0]?.email ?? null;
}

export async function countUsers(sql: Sql): Promise<number> {
	return (await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM t_users"))[0].n;
}

export async function credentialsOf(sql: Sql, email: string): Promise<(UserRow & { password: string }) | null> {
	const rows = await sql.query<UserRow & { password: string }>(
		`SELECT ${COLUMNS}, password FROM t_users WHERE email = $1`,
		[email]
	);
	return rows[0] ?? null;
}

export async function passwordHashOf(sql: Sql, id: number): Promise<string | null> {
	const rows = await sql.query<{ password: string }>("SELECT password FROM t_users WHERE id = $1", [id]);
	return rows[0]?.password ?? null;
}

export async function getUser(sql: Sql, id: number): Promise<UserRow | null> {
	const rows = await sql.query<UserRow>(`SELECT ${COLUMNS} FROM t_users WHERE id = $1`, [id]);
	return rows[0] ?? null;
}

/** A page of users in id order after `afterId` (the list cursor), `limit` rows, and how many there are. */
export async function listUsers(sql: Sql, limit: number, afterId = 0): Promise<{ rows: UserRow[]; total: number }> {
	const [rows, total] = await Promise.all([
		sql.query<UserRow>(`SELECT ${COLUMNS} FROM t_users WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit]),
		countUsers(sql)
	]);
	return { rows, total };
}

export async function userState(sql: Sql, id: number): Promise<UserState> {
	const u = await getUser(sql, id);
	return u ? stateOf(u) : deletedState(id);
}

/**
 * Changes a user's role. Refuses (returns "last-admin") to demote the only administrator, so the
 * fleet never ends up without one.
 */
export async function setRole(sql: Sql, id: number, isAdmin: boolean): Promise<UserRow | null | "last-admin"> {
	if (!isAdmin) {
		const rows = await sql.query<UserRow>(
			`UPDATE t_users SET is_admin = false, updated_at = now() WHERE id = $1 AND (NOT is_admin OR ` +
				`EXISTS (SELECT 1 FROM t_users WHERE is_admin AND id <> $1)) RETURNING ${COLUMNS}`,
			[id]
		);
		if (rows[0]) return rows[0];
		return (await getUser(sql, id)) ? "last-admin" : null;
	}
	const rows = await sql.query<UserRow>(
		`UPDATE t_users SET is_admin = true, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
		[id]
	);
	return rows[0] ?? null;
}

/** Deletes a user (not the last administrator). */
export async function deleteUser(sql: Sql, id: number): Promise<boolean | "last-admin"> {
	const rows = await sql.query(
		`DELETE FROM t_users WHERE id = $1 AND (NOT is_admin OR EXISTS (SELECT 1 FROM t_users WHERE ` +
			`is_admin AND id <> $1)) RETURNING id`,
		[id]
	);
	if (rows.length) return true;
	return (await getUser(sql, id)) ? "last-admin" : false;
}

/** Sets a new password and ends every session of the user (token_version + 1). */
export async function setPassword(sql: Sql, id: number, hash: string): Promise<UserRow | null> {
	const rows = await sql.query<UserRow>(
		`UPDATE t_users SET password = $2, token_version = token_version + 1, updated_at = now() WHERE id ` +
			`= $1 RETURNING ${COLUMNS}`,
		[id, hash]
	);
	return rows[0] ?? null;
}

/** The lost-password command: a generated password for the user with this email, or null. */
export async function resetPasswordByEmail(
	sql: Sql,
	email: string
): Promise<{ user: UserRow; password: string } | null> {
	const rows = await sql.query<{ id: number }>("SELECT id FROM t_users WHERE email = $1", [email]);
	if (!rows[0]) return null;
	const password = generatePassword();
	const user = await setPassword(sql, rows[0].id, await hashPassword(password));
	return user ? { user, password } : null;
}

/** A random password that meets the policy (letters, digits and a symbol). */
export function generatePassword(): string {
	return crypto.randomBytes(18).toString("base64url") + "-7";
}

export async function revokeToken(sql: Sql, jti: string, userId: number, exp: number): Promise<void> {
	await sql.query(
		"INSERT INTO t_blacklist_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3)) ON " +
			"CONFLICT (jti) DO NOTHING",
		[jti, userId, exp]
	);
}

export async function revokedTokens(sql: Sql): Promise<Array<{ jti: string; exp: number }>> {
	const rows = await sql.query<{ jti: string; exp: string }>(
		"SELECT jti, floor(extract(epoch from expires_at))::bigint AS exp FROM t_blacklist_tokens WHERE " +
			"expires_at > now()"
	);
	return rows.map(r => ({ jti: r.jti, exp: Number(r.exp) }));
}

export async function purgeRevoked(sql: Sql): Promise<number> {
	return (await sql.query("DELETE FROM t_blacklist_tokens WHERE expires_at < now() RETURNING id")).length;
}

export async function recordCertificate(
	sql: Sql,
	c: {
		serial: string;
		commonName: string;
		mac: string | null;
		usage: "client" | "server";
		notAfter: string;
		issuedBy: number | null;
	}
): Promise<void> {
	await sql.query(
		"INSERT INTO t_certificates (serial_number, common_name, mac, usage, not_after, issued_by) VALUES " +
			"($1, $2, $3, $4, $5, $6)",
		[c.serial, c.commonName, c.mac, c.usage, c.notAfter, c.issuedBy]
	);
}
