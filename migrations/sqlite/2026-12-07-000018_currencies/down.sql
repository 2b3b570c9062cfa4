ALTER TABLE projects DROP COLUMN reporting_currency;
ALTER TABLE sources DROP COLUMN currency;
