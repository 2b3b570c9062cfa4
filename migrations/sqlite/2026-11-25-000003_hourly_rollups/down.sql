DROP TABLE points_hourly;
