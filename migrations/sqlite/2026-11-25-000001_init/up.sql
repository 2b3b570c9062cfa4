-- Times: *_ms columns are epoch milliseconds; points.ts is epoch seconds.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX projects_status ON projects (status);

CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    secret TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX sources_project ON sources (project_id);
CREATE INDEX sources_platform ON sources (platform);

-- One row per observation. The key order serves the series query
-- (project, metric, time range) whatever the platform; WITHOUT ROWID keeps
-- the table and its key in one B-tree.
CREATE TABLE points (
    project_id BIGINT NOT NULL,
    metric TEXT NOT NULL,
    platform TEXT NOT NULL,
    ts BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, metric, platform, ts)
) WITHOUT ROWID;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    triggered_by TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    error TEXT,
    points_written BIGINT NOT NULL DEFAULT 0,
    log TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_project ON runs (project_id, id);
CREATE INDEX runs_status ON runs (status);
