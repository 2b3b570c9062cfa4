DROP TABLE commands;
DROP TABLE leases;
