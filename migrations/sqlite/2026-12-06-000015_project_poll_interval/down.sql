ALTER TABLE projects DROP COLUMN poll_interval_ms;
