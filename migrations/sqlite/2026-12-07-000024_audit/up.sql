-- Who changed what, when and from where: one row per state-changing
-- request (the API's and the UI's), and one per bulk job that ended.
-- `action` is the method and the route (`POST /api/v1/projects/{id}/scrape`);
-- `projects` the ids it touched as `,1,2,3,` (so one can be searched for);
-- `detail` JSON.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    projects TEXT NOT NULL,
    detail TEXT,
    remote TEXT
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
