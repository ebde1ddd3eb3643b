-- Leases: named, expiring claims that the ldapgates sharing a store take
-- and renew, so that one of them runs the scheduled syncs ("scheduler")
-- and one sync runs at a time ("sync"). expires_at is RFC 3339 text in
-- UTC, from the holder's clock.

CREATE TABLE leases (
	name       TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
	holder     TEXT NOT NULL CHECK (holder <> ''),
	expires_at TEXT NOT NULL
) STRICT;
