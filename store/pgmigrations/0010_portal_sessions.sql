-- The web portal's sessions and secrets: as SQLite's migration 0010.

CREATE TABLE portal_sessions (
	key        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	user_id    TEXT COLLATE "C" NOT NULL,
	email      TEXT COLLATE "C" NOT NULL,
	csrf       TEXT COLLATE "C" NOT NULL,
	expires_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX portal_sessions_expires_at ON portal_sessions (expires_at);

CREATE TABLE portal_secrets (
	name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	value TEXT COLLATE "C" NOT NULL
);
