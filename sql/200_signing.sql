-- Signing: users, revoked tokens, issued device certificates (seed 001, seed 003).

-- Users. `email` is stored normalised (trimmed, lower-case) so the unique key also rejects
-- a second registration that differs only in case. `password` is an Argon2id PHC string.
CREATE TABLE IF NOT EXISTS t_users (
	id          serial PRIMARY KEY,
	email       varchar(254) NOT NULL UNIQUE CHECK (email = lower(email)),
	password    varchar(255) NOT NULL,
	is_admin    boolean NOT NULL DEFAULT false,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Revoked tokens until they would have expired. Seed 001 kept the whole token; its id (jti)
-- identifies it as well without storing a usable credential. No foreign key on user_id:
-- deleting a user must not un-revoke that user's tokens.
CREATE TABLE IF NOT EXISTS t_blacklist_tokens (
	id              bigserial PRIMARY KEY,
	jti             varchar(64) NOT NULL UNIQUE,
	user_id         integer,
	blacklisted_on  timestamptz NOT NULL DEFAULT now(),
	expires_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS t_blacklist_tokens_expires ON t_blacklist_tokens (expires_at);

-- Every certificate the CA issued (never the private key): who, for what, until when.
CREATE TABLE IF NOT EXISTS t_certificates (
	serial_number  varchar(64) PRIMARY KEY,
	common_name    varchar(64) NOT NULL,
	mac            varchar(17),
	usage          varchar(10) NOT NULL CHECK (usage IN ('client', 'server')),
	not_after      timestamptz NOT NULL,
	issued_by      integer,
	issued_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS t_certificates_common_name ON t_certificates (common_name);
