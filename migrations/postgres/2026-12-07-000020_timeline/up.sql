-- Why a series has no point: the spans of time when a project, a platform
-- (or one host of it) or a node stood still, recorded at each transition
-- (a circuit opened, a pause asked for, a quarantine, a paused schedule,
-- an edit of the sources, a campaign's end, a node fenced). A row without
-- a project concerns every project of its platform (and host), or of every
-- platform when it has none; `ended_ms` is NULL while the span lasts.
CREATE TABLE timeline (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    platform TEXT,
    host TEXT,
    node TEXT,
    cause TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT
);
CREATE INDEX timeline_project ON timeline (project_id, started_ms);
-- The spans of platforms and nodes, read with every project's.
CREATE INDEX timeline_shared ON timeline (started_ms) WHERE project_id IS NULL;
