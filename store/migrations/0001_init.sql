-- The directory (users, groups, direct memberships, privilege grants) and
-- the log of sync runs. Timestamps are RFC 3339 text in UTC (NULL when
-- unknown); address lists are JSON arrays of strings.

CREATE TABLE users (
	id             TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
	uid            TEXT NOT NULL COLLATE NOCASE UNIQUE CHECK (uid <> ''),
	primary_email  TEXT NOT NULL COLLATE NOCASE UNIQUE CHECK (primary_email <> ''),
	origin         TEXT NOT NULL CHECK (origin IN ('directory', 'local')),
	given_name     TEXT NOT NULL DEFAULT '',
	family_name    TEXT NOT NULL DEFAULT '',
	display_name   TEXT NOT NULL DEFAULT '',
	org_unit_path  TEXT NOT NULL DEFAULT '',
	suspended      INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
	archived       INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
	is_admin       INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
	aliases        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aliases)),
	source_created TEXT,
	last_login     TEXT,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL
) STRICT;

CREATE TABLE groups (
	id          TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
	cn          TEXT NOT NULL COLLATE NOCASE UNIQUE CHECK (cn <> ''),
	email       TEXT NOT NULL COLLATE NOCASE UNIQUE CHECK (email <> ''),
	name        TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	aliases     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aliases)),
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
) STRICT;

-- Direct members of a group. The primary keys serve lookups by group; the
-- indexes on the member side serve the cascades when a member is deleted.
CREATE TABLE group_user_members (
	group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX group_user_members_user_id ON group_user_members (user_id);

CREATE TABLE group_group_members (
	group_id        TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	member_group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, member_group_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX group_group_members_member_group_id ON group_group_members (member_group_id);

-- A user may hold a privilege for several reasons: by default, through each
-- mapping rule (rule names the rule's group), and by an administrator.
CREATE TABLE grants (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	privilege  TEXT NOT NULL CHECK (privilege <> ''),
	origin     TEXT NOT NULL CHECK (origin IN ('default', 'mapped', 'admin')),
	rule       TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	PRIMARY KEY (user_id, privilege, origin, rule)
) STRICT, WITHOUT ROWID;

CREATE TABLE sync_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	started_at  TEXT,
	finished_at TEXT,
	source      TEXT NOT NULL DEFAULT '',
	forced      INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
	counts      TEXT NOT NULL CHECK (json_valid(counts)),
	plan        TEXT,
	error       TEXT NOT NULL DEFAULT ''
) STRICT;
