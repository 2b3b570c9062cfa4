-- Admin UI sessions: the cookie holds a random id; only its SHA-256 is kept,
-- with the session's CSRF token and its expiry.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at_ms);
