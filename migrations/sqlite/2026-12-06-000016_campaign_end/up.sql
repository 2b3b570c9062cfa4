-- Where each source's campaign stands, as its platform last reported it:
-- the platform's own word (`live`, `successful`, `ACTIVE`), what it means
-- here (`live`, `ended`, `idle`), when it launched, its deadline, and when
-- it was last heard.
ALTER TABLE sources ADD COLUMN campaign_state TEXT;
ALTER TABLE sources ADD COLUMN campaign_phase TEXT;
ALTER TABLE sources ADD COLUMN campaign_started_ms BIGINT;
ALTER TABLE sources ADD COLUMN deadline_ms BIGINT;
ALTER TABLE sources ADD COLUMN campaign_seen_at_ms BIGINT;
-- When the project's campaign ended (its final numbers in). Kept when an
-- admin resumes it, so the end is not declared twice.
ALTER TABLE projects ADD COLUMN ended_at_ms BIGINT;
