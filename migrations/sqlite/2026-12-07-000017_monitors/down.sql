DROP TABLE monitor_alerts;
ALTER TABLE projects DROP COLUMN monitors;
