-- How long the parts of a sync run took (Phases: fetch, plan, apply,
-- finish, in milliseconds), as JSON like counts.
ALTER TABLE sync_runs ADD COLUMN phases TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(phases));
