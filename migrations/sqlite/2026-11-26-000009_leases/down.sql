ALTER TABLE nodes DROP COLUMN following;
DROP TABLE commands;
DROP TABLE leases;
