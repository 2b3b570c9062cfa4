DROP INDEX runs_started;
ALTER TABLE runs DROP COLUMN node;
