DROP INDEX projects_external_key;
ALTER TABLE projects DROP COLUMN external_key;
ALTER TABLE projects DROP COLUMN labels;
