ALTER TABLE runs DROP COLUMN error_kind;
ALTER TABLE projects DROP COLUMN status_reason;
