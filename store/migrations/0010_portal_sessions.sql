-- The web portal's signed-in sessions, so that every ldapgate sharing the
-- store knows them (behind a load balancer, and across restarts), and the
-- portal's secrets (the key that seals sign-ins in progress), made once.
-- key is a hash of the session cookie, never the cookie itself.

CREATE TABLE portal_sessions (
	key        TEXT NOT NULL PRIMARY KEY,
	user_id    TEXT NOT NULL,
	email      TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX portal_sessions_expires_at ON portal_sessions (expires_at);

CREATE TABLE portal_secrets (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
