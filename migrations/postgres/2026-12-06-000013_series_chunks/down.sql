DROP TABLE chunks;
DROP TABLE series;
