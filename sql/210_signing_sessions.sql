-- Live roles and sessions: `token_version` is in every token (`ver`); a password change or reset
-- bumps it, and gateways refuse tokens of any other version (every older session ends).
ALTER TABLE t_users ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 0;
