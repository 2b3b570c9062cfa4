ALTER TABLE sessions DROP COLUMN user_name;
DROP TABLE users;
