-- Cluster mode: which node owns which project, and commands for the owner.
-- A lease holds while its node process (name and instance) heartbeats in
-- `nodes`; once that heartbeat is older than the TTL, or the node stopped,
-- any node may take the project over. One heartbeat renews every lease of
-- a node. Only PostgreSQL runs several nodes; SQLite keeps the tables so
-- both schemas stay alike.
CREATE TABLE leases (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    instance TEXT NOT NULL,
    acquired_at_ms BIGINT NOT NULL
);
CREATE INDEX leases_node ON leases (node, instance);

-- Requests received by one node for a project another node owns (trigger,
-- cancel, archive, resume, edit): the owner polls its own, runs them and
-- writes the outcome back for the node that waits on it.
CREATE TABLE commands (
    id BIGSERIAL PRIMARY KEY,
    node TEXT NOT NULL,
    project_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    run_id BIGINT,
    created_at_ms BIGINT NOT NULL,
    done_at_ms BIGINT,
    outcome TEXT
);
CREATE INDEX commands_pending ON commands (node, id) WHERE done_at_ms IS NULL;

-- What each node's live-update listeners follow (JSON), so the node running
-- a project relays its points to the nodes whose clients follow it.
ALTER TABLE nodes ADD COLUMN following TEXT;
