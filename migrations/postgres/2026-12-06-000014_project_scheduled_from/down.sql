ALTER TABLE projects DROP COLUMN scheduled_from_ms;
