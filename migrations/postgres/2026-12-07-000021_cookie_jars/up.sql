-- The cookie jars of the generic sources that ask for one (a source's own,
-- or its platform's): kept so that a site's session survives a restart.
-- `sealed` is the jar's JSON, sealed with the node's secret key like the
-- sources' secrets.
CREATE TABLE cookie_jars (
    jar TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
