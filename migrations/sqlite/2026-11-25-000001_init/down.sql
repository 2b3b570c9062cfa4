DROP TABLE runs;
DROP TABLE points;
DROP TABLE sources;
DROP TABLE projects;
