-- Pipeline (issue 5): decoding metadata of MQTT field controllers and the seed fleet.
--
-- A controller is a row of `devices` (mac set). Each of its sensors sends one binary frame
-- per message on stat/f2-<mac>/sensor-mode/<mode>/sensor-<n>; `pipeline_sensors` gives the
-- frame length of sensor n, and each datapoint of the controller says where in which frame
-- its value is (datapoints.decoding):
--   { "sensor": 1, "offset": 0, "type": "int16be", "scale": 0.01, "add": 0 }
-- value = raw * scale + add. Frame format: docs/pipeline.md.
CREATE TABLE IF NOT EXISTS pipeline_sensors (
	device_id     integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	sensor        integer NOT NULL CHECK (sensor >= 0),
	name          text NOT NULL,
	frame_length  integer NOT NULL CHECK (frame_length > 0 AND frame_length <= 1024),
	PRIMARY KEY (device_id, sensor)
);

-- Sensors are found by their datapoints' decoding->'sensor'.
CREATE INDEX IF NOT EXISTS datapoints_decoding_sensor ON datapoints (device_id, ((decoding->>'sensor')));

-- The four FACES2 controllers of seed 003 (the simulator's MACs).
INSERT INTO devices (uid, name, type, profile, status, mac)
SELECT 'f2-aabbccddee0' || n, 'FACES2 controller 0' || n, 'faces2-controller', 'faces2', 'configured', 'aa:bb:cc:dd:ee:0' || n
FROM generate_series(1, 4) AS n
ON CONFLICT DO NOTHING;

-- sensor-1: environment frame, 8 bytes; sensor-2: power frame, 12 bytes.
INSERT INTO pipeline_sensors (device_id, sensor, name, frame_length)
SELECT d.id, s.sensor, s.name, s.len
FROM devices d
CROSS JOIN (VALUES (1, 'environment', 8), (2, 'power', 12)) AS s(sensor, name, len)
WHERE d.mac IN ('aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02', 'aa:bb:cc:dd:ee:03', 'aa:bb:cc:dd:ee:04')
ON CONFLICT DO NOTHING;

INSERT INTO datapoints (device_id, label, unit, decoding)
SELECT d.id, p.label, p.unit, p.decoding::jsonb
FROM devices d
CROSS JOIN (VALUES
	('temperature', '°C',  '{"sensor": 1, "offset": 0, "type": "int16be",   "scale": 0.01}'),
	('humidity',    '%',   '{"sensor": 1, "offset": 2, "type": "uint16be",  "scale": 0.01}'),
	('pressure',    'hPa', '{"sensor": 1, "offset": 4, "type": "uint32be",  "scale": 0.01}'),
	('voltage',     'V',   '{"sensor": 2, "offset": 0, "type": "uint16be",  "scale": 0.1}'),
	('current',     'A',   '{"sensor": 2, "offset": 2, "type": "int16be",   "scale": 0.001}'),
	('power',       'W',   '{"sensor": 2, "offset": 4, "type": "float32be", "scale": 1}'),
	('energy',      'Wh',  '{"sensor": 2, "offset": 8, "type": "uint32be",  "scale": 1}')
) AS p(label, unit, decoding)
WHERE d.mac IN ('aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02', 'aa:bb:cc:dd:ee:03', 'aa:bb:cc:dd:ee:04')
ON CONFLICT (device_id, label) DO NOTHING;
