-- A project's own poll interval, ms: NULL follows the node's setting, 0 is
-- manual only (its hot numbers are read only by full scrapes and triggers).
ALTER TABLE projects ADD COLUMN poll_interval_ms BIGINT;
