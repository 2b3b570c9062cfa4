ALTER TABLE projects DROP COLUMN schedule_paused;
ALTER TABLE projects DROP COLUMN scheduled_from_ms;
