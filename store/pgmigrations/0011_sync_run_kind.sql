-- The kind of a sync run: as SQLite's migration 0011.
ALTER TABLE sync_runs ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'incremental'));
