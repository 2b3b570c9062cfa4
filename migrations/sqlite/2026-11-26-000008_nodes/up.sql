-- The nodes running on this database: each heartbeats while it lives, and
-- marks its row stopped on a clean shutdown. `instance` tells a restarted
-- process from the one before it under the same name.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    stopped_at_ms BIGINT
);
