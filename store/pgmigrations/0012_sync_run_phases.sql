-- How long the parts of a sync run took: as SQLite's migration 0012.
ALTER TABLE sync_runs ADD COLUMN phases TEXT COLLATE "C" NOT NULL DEFAULT '{}' CHECK (phases::json IS NOT NULL);
