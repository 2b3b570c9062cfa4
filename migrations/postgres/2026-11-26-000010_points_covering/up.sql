-- A series reads one (project, metric, platform) range of the primary key.
-- Points are written in time order, every project's at each tick, so one
-- series is spread over the whole heap: a 30-day series at 5-minute points
-- visited one heap page per point. With `value` carried in the key's index,
-- PostgreSQL answers from the index alone (an index-only scan over a few
-- dozen contiguous leaf pages).
--
-- On a large table this rebuilds the index under an exclusive lock: plan
-- the upgrade (docs/operations.md, "Upgrading").
ALTER TABLE points
    DROP CONSTRAINT points_pkey,
    ADD CONSTRAINT points_pkey PRIMARY KEY (project_id, metric, platform, ts) INCLUDE (value);

-- An index-only scan skips the heap only for pages vacuum has marked
-- all-visible. Points are mostly inserted, and by default autovacuum visits
-- an insert-only table after 20% new rows: the newest points, the ones
-- dashboards read most, would stay outside the visibility map for days.
-- Vacuum after every 1% instead (plus 50,000 rows for small tables).
ALTER TABLE points SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 50000);
