-- Where a project's schedule starts to count for the freshness SLO: set when
-- a running node first schedules it (at creation through a node, or at the
-- start of the first node after it was created offline), and again when it
-- is resumed. Slots before then are not misses. Existing projects keep
-- their creation time, as before.
ALTER TABLE projects ADD COLUMN scheduled_from_ms BIGINT;
UPDATE projects SET scheduled_from_ms = created_at_ms;
-- A paused schedule: the project stays active (its data is served, a
-- trigger scrapes it) but nothing scrapes or polls it on a schedule.
ALTER TABLE projects ADD COLUMN schedule_paused BOOLEAN NOT NULL DEFAULT FALSE;
-- A project's own full-scrape interval, ms: NULL follows the node's
-- setting, 0 is manual only (scraped when triggered).
ALTER TABLE projects ADD COLUMN full_interval_ms BIGINT;
