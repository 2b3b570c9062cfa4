-- The answers the generic sources' fetches brought back, kept so that a
-- parser fixed after a page changed its layout can read them again and
-- recover the points the broken one missed. Keyed by the source's
-- platform and reference (a source edited keeps its history); one row per
-- page of a fetch. `body` is gzip-compressed; `stored_bytes` is what
-- the row costs (body as stored, its text, a row's overhead), what the
-- archive's bounds count. `outcome` is `ok` or the fetch's error code;
-- a parse failure names its `metric` and the `proposals` (JSON) found
-- for it; `recovered_at_ms` is set once a re-parse read it.
CREATE TABLE responses (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    run_id BIGINT,
    kind TEXT NOT NULL,
    fetched_at_ms BIGINT NOT NULL,
    page INTEGER NOT NULL,
    status INTEGER NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BYTEA NOT NULL,
    body_bytes BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    metric TEXT,
    proposals TEXT,
    recovered_at_ms BIGINT
);
-- The bodies come compressed: PostgreSQL keeps them out of line without
-- compressing them again.
ALTER TABLE responses ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX responses_source ON responses (project_id, platform, external_ref, fetched_at_ms);
CREATE INDEX responses_run ON responses (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX responses_age ON responses (fetched_at_ms);
-- A failed run whose missed points a re-parse recovered.
ALTER TABLE runs ADD COLUMN recovered_at_ms BIGINT;
