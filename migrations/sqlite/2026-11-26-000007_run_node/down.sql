DROP INDEX runs_started;
ALTER TABLE runs DROP COLUMN fetch_started_at_ms;
ALTER TABLE runs DROP COLUMN node;
