-- A counter that every write to the directory data (users, groups,
-- memberships, grants) raises in its own transaction. A running ldapgate
-- rebuilds its view when the counter moves, not on every commit: app
-- password "last used" times and sync run records change nothing it serves.

CREATE TABLE directory_generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	generation INTEGER NOT NULL
);
INSERT INTO directory_generation (id, generation) VALUES (1, 0);
