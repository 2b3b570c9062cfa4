ALTER TABLE points RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold);
ALTER TABLE points
    DROP CONSTRAINT points_pkey,
    ADD CONSTRAINT points_pkey PRIMARY KEY (project_id, metric, platform, ts);
