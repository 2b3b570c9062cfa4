-- People who use the admin UI, each with a role (`admin`, `operator`,
-- `viewer`) and an argon2 password hash; a session names its user (none:
-- the node's own admin password, TRAWLER_ADMIN_PASSWORD_HASH).
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
ALTER TABLE sessions ADD COLUMN user_name TEXT;
