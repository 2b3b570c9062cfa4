-- The other projects a read token reads besides its own: one token for a
-- creator's several campaigns.
CREATE TABLE token_projects (
    token_id BIGINT NOT NULL REFERENCES project_tokens (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
);
