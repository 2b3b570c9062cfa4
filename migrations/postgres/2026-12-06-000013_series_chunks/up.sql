-- The series dictionary: one row per (project, metric, platform) whose
-- points are kept in chunks.
CREATE TABLE series (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL,
    metric TEXT NOT NULL,
    platform TEXT NOT NULL,
    UNIQUE (project_id, metric, platform)
);

-- Closed chunks: one series' points from start_ts to end_ts (the times of
-- its first and last point) as one encoded block (store::codec), with the
-- aggregates a downsampled read takes without decoding it. Recent points
-- wait in `points` (the head) until the compactor moves them here.
CREATE TABLE chunks (
    series_id BIGINT NOT NULL,
    start_ts BIGINT NOT NULL,
    end_ts BIGINT NOT NULL,
    count BIGINT NOT NULL,
    first_value DOUBLE PRECISION NOT NULL,
    last_value DOUBLE PRECISION NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    sum_value DOUBLE PRECISION NOT NULL,
    block BYTEA NOT NULL,
    PRIMARY KEY (series_id, start_ts)
);
-- Blocks are compressed already: store them as they are.
ALTER TABLE chunks ALTER COLUMN block SET STORAGE EXTERNAL;
