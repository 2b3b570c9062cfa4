-- Which node ran each run (cluster mode; one name on a single node); when its
-- first request passed the platform's gate (the start the freshness SLO
-- counts: a run may wait in line after it is recorded); an index for the
-- runs page's filters by time.
ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN fetch_started_at_ms BIGINT;
CREATE INDEX runs_started ON runs (started_at_ms);
