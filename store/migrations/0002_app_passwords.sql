-- App passwords: per-user passwords for LDAP binds, created in the web
-- portal or with `ldapgate app-password create`. Only an argon2id hash is
-- stored. A revoked app password stays listed (with revoked = 1) so the
-- user sees what existed; deleting the user deletes its app passwords.

CREATE TABLE app_passwords (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL CHECK (name <> ''),
	service      TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL CHECK (hash LIKE '$argon2id$%'),
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
	revoked_at   TEXT
) STRICT;

-- Bind candidates are looked up by user; an active name is unique per user.
CREATE INDEX app_passwords_user_id ON app_passwords (user_id);
CREATE UNIQUE INDEX app_passwords_active_name ON app_passwords (user_id, name COLLATE NOCASE) WHERE revoked = 0;
