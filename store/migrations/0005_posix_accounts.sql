-- The user's POSIX account from the source (Google's posixAccounts: the
-- primary one, else the first; never one with uid 0). NULL when the source
-- has none, or does not set the field. The directory serves these numbers
-- and strings instead of the derived ones (see ldapserver/posix.go).

ALTER TABLE users ADD COLUMN posix_uid INTEGER CHECK (posix_uid IS NULL OR posix_uid BETWEEN 1 AND 4294967294);
ALTER TABLE users ADD COLUMN posix_gid INTEGER CHECK (posix_gid IS NULL OR posix_gid BETWEEN 1 AND 4294967294);
ALTER TABLE users ADD COLUMN posix_home_directory TEXT;
ALTER TABLE users ADD COLUMN posix_shell TEXT;
ALTER TABLE users ADD COLUMN posix_gecos TEXT;
