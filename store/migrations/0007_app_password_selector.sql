-- A short, non-secret selector of each app password (16 bits of a hash of
-- the password, 1..65536), so that a bind compares the typed password with
-- the one app password it selects instead of with each of the user's: every
-- bind costs one argon2id comparison, and the time taken does not tell how
-- many app passwords a user has. NULL for app passwords made before it;
-- those are compared as before until a bind sets theirs.
ALTER TABLE app_passwords ADD COLUMN selector INTEGER CHECK (selector BETWEEN 1 AND 65536);
