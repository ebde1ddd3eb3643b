package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Changes tells a running ldapgate that the store was written by another
// connection: another ldapgate command (privileges grant, app-password
// create) or this process's own writer. It holds one connection of the
// read pool, because SQLite's data_version is per connection.
type Changes struct {
	conn    *sql.Conn
	version int64
}

// WatchChanges starts watching the store for commits from here on.
func (db *DB) WatchChanges(ctx context.Context) (*Changes, error) {
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: watch changes: %w", err)
	}
	c := &Changes{conn: conn}
	if _, err := c.Changed(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Changed reports whether a commit happened since the previous call.
func (c *Changes) Changed(ctx context.Context) (bool, error) {
	var v int64
	if err := c.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return false, fmt.Errorf("store: watch changes: %w", err)
	}
	changed := v != c.version
	c.version = v
	return changed, nil
}

// Close releases the connection.
func (c *Changes) Close() error { return c.conn.Close() }
