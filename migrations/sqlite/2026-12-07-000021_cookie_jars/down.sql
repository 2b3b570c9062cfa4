DROP TABLE cookie_jars;
