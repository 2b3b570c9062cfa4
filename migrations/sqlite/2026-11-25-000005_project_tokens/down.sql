DROP TABLE project_tokens;
