-- Tombstones of deleted directory users. A sync that deletes a directory
-- user (gone from the source, or out of the filter's scope) removes it from
-- the directory at once but keeps here what the source cannot give back:
-- its UID, when it first appeared (created_at orders the derived POSIX
-- numbers), its default and admin grants and its app passwords. If the
-- same source user (same immutable id) returns within the retention
-- (sync.deleted_retention), they are restored; older tombstones are purged.

CREATE TABLE deleted_users (
	id            TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
	uid           TEXT NOT NULL,
	primary_email TEXT NOT NULL,
	display_name  TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	deleted_at    TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX deleted_users_deleted_at ON deleted_users (deleted_at);

-- Mapped grants are not kept: the privilege rules give them again.
CREATE TABLE deleted_grants (
	user_id    TEXT NOT NULL REFERENCES deleted_users (id) ON DELETE CASCADE,
	privilege  TEXT NOT NULL,
	origin     TEXT NOT NULL CHECK (origin IN ('default', 'admin')),
	created_at TEXT NOT NULL,
	PRIMARY KEY (user_id, privilege, origin)
) STRICT, WITHOUT ROWID;

-- The app passwords as they were, ids included: AUTOINCREMENT never gives
-- an id out twice, so they go back into app_passwords unchanged.
CREATE TABLE deleted_app_passwords (
	id           INTEGER PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES deleted_users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	service      TEXT NOT NULL,
	hash         TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked      INTEGER NOT NULL,
	revoked_at   TEXT,
	selector     INTEGER
) STRICT;

CREATE INDEX deleted_app_passwords_user_id ON deleted_app_passwords (user_id);
