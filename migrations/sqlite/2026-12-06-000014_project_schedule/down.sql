ALTER TABLE projects DROP COLUMN full_interval_ms;
ALTER TABLE projects DROP COLUMN schedule_paused;
ALTER TABLE projects DROP COLUMN scheduled_from_ms;
