-- Which node ran each run (cluster mode; one name on a single node), and an
-- index for the runs page's filters by time.
ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_started ON runs (started_at_ms);
