-- Device registry extensions for plug and play (issue 3): where a device sits on its node and
-- how it was named. `uid` (001_core) stays the identity; these columns are descriptive.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS port_path text;      -- udev ID_PATH (USB port), stable across renumbering
ALTER TABLE devices ADD COLUMN IF NOT EXISTS dev_link text;       -- /dev/serial/by-id/… when the device has one
ALTER TABLE devices ADD COLUMN IF NOT EXISTS address integer;     -- I2C address of a chip on a bus
ALTER TABLE devices ADD COLUMN IF NOT EXISTS name_auto boolean NOT NULL DEFAULT true; -- false once a user renamed it
ALTER TABLE devices ADD COLUMN IF NOT EXISTS last_seen_at timestamptz;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS status_reason text;
CREATE INDEX IF NOT EXISTS devices_node_status ON devices (node_id, status);
