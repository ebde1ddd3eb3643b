-- The kind of a sync run: a full sync, or an incremental one that applied
-- the changes a source reported (Google's admin events).
ALTER TABLE sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'incremental'));
