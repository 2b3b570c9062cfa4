-- Why a project is in its status (a quarantine's last crash), and the class
-- of a failed run's error (timeout, throttled, http_status, parse, ...).
ALTER TABLE projects ADD COLUMN status_reason TEXT;
ALTER TABLE runs ADD COLUMN error_kind TEXT;
