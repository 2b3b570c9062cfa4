DROP TABLE token_projects;
