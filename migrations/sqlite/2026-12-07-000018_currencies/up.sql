-- The currency a source's money is counted in, as its platform last
-- reported it (ISO 4217), and the currency a project's figures are
-- reported in (NULL: its campaign's).
ALTER TABLE sources ADD COLUMN currency TEXT;
ALTER TABLE projects ADD COLUMN reporting_currency TEXT;
