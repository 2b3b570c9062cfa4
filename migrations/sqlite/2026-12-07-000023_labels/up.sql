-- Labels on projects (`{"client": "acme", "wave": "spring"}`, JSON, at
-- most 16) for filters, bulk actions and /metrics; and the stable key an
-- import finds a project by (unique when set).
ALTER TABLE projects ADD COLUMN labels TEXT;
ALTER TABLE projects ADD COLUMN external_key TEXT;
CREATE UNIQUE INDEX projects_external_key ON projects (external_key);
