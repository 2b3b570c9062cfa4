-- PostgreSQL's points index now carries `value`, so that series are read
-- from the index alone. SQLite's points table is its primary key already
-- (WITHOUT ROWID): nothing to change. The migration exists so that both
-- schemas keep the same versions.
SELECT 1;
