-- An acknowledgement may carry the operator's comment ("fan replaced", "known, waiting for parts").
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS ack_comment text;
