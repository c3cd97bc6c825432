-- Device ownership: `owner` holds the owning user's id (t_users.id), or NULL for a device that
-- belongs to no one yet (plugged or simulated: administrators only until one assigns it).
-- Earlier free-text owners that are not a user id become NULL: fail closed, an admin reassigns.
ALTER TABLE devices ALTER COLUMN owner TYPE integer USING (CASE WHEN owner ~ '^[0-9]{1,9}$' THEN owner::integer END);
CREATE INDEX IF NOT EXISTS devices_owner ON devices (owner);
