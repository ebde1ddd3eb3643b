-- Leases: as SQLite's migration 0009.

CREATE TABLE leases (
	name       TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
	holder     TEXT COLLATE "C" NOT NULL CHECK (holder <> ''),
	expires_at TEXT COLLATE "C" NOT NULL
);
