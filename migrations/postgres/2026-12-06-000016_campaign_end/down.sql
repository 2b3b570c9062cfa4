UPDATE projects SET status = 'archived' WHERE status = 'ended';
ALTER TABLE projects DROP COLUMN ended_at_ms;
ALTER TABLE sources DROP COLUMN campaign_seen_at_ms;
ALTER TABLE sources DROP COLUMN deadline_ms;
ALTER TABLE sources DROP COLUMN campaign_started_ms;
ALTER TABLE sources DROP COLUMN campaign_phase;
ALTER TABLE sources DROP COLUMN campaign_state;
