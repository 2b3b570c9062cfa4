ALTER TABLE runs DROP COLUMN recovered_at_ms;
DROP TABLE responses;
