ALTER TABLE commands DROP COLUMN instance;
