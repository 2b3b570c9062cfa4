-- A command names the node process it is for: a restarted node (a new
-- instance) does not carry out what was asked of its predecessor.
ALTER TABLE commands ADD COLUMN instance TEXT;
