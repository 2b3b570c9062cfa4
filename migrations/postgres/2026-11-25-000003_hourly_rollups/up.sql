-- Hourly rollups of points older than the retention period: one row per
-- (project, metric, platform, hour) with what every aggregate needs.
CREATE TABLE points_hourly (
    project_id BIGINT NOT NULL,
    metric TEXT NOT NULL,
    platform TEXT NOT NULL,
    hour_ts BIGINT NOT NULL,
    last_ts BIGINT NOT NULL,
    last_value DOUBLE PRECISION NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    sum_value DOUBLE PRECISION NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project_id, metric, platform, hour_ts)
);
