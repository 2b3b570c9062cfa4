-- A project's own monitor rules and silenced monitors (JSON; NULL: the
-- platform defaults alone).
ALTER TABLE projects ADD COLUMN monitors TEXT;
-- Alerts raised by the monitors on the numbers: one row per alert, open
-- until it recovers. At most one open alert per source, monitor, metric
-- and threshold (`threshold`, empty but for milestones).
CREATE TABLE monitor_alerts (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_id BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    monitor TEXT NOT NULL,
    metric TEXT NOT NULL,
    threshold TEXT NOT NULL DEFAULT '',
    level DOUBLE PRECISION,
    value DOUBLE PRECISION,
    detail TEXT NOT NULL,
    fired_at_ms BIGINT NOT NULL,
    recovered_at_ms BIGINT,
    recovered_value DOUBLE PRECISION,
    recovered_detail TEXT
);
CREATE UNIQUE INDEX monitor_alerts_open ON monitor_alerts (source_id, monitor, metric, threshold)
    WHERE recovered_at_ms IS NULL;
CREATE INDEX monitor_alerts_project ON monitor_alerts (project_id, fired_at_ms);
-- The open alerts per project (the project list's badges).
CREATE INDEX monitor_alerts_open_project ON monitor_alerts (project_id, monitor) WHERE recovered_at_ms IS NULL;
