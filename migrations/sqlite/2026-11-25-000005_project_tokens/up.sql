-- Read tokens: each lets a dashboard read one project. Only a SHA-256 of
-- the token is kept; the token itself is shown once, when it is made.
CREATE TABLE project_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE UNIQUE INDEX project_tokens_hash ON project_tokens (token_hash);
CREATE INDEX project_tokens_project ON project_tokens (project_id);
