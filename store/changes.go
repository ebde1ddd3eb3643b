package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Changes tells a running ldapgate that the directory data (users, groups,
// memberships, grants) was written by another connection: another ldapgate
// command (privileges grant, a sync by hand) or this process's own writer.
// Other commits (app password "last used" times, sync run records) do not
// count: rebuilding the view of a large directory costs seconds of CPU.
//
// It holds one connection of the read pool, because SQLite's data_version
// is per connection; data_version is the cheap test, the directory
// generation (raised by every directory write) the one that decides.
// PostgreSQL has no such test: there each call reads the generation.
//
// On PostgreSQL, Notices also tells when another ldapgate announced a
// directory write (LISTEN/NOTIFY), so that it is served at once rather than
// at the next poll; polling Changed stays the fallback for notifications
// lost with a dropped connection.
type Changes struct {
	// conn is SQLite's held connection; q reads, through it or (on
	// PostgreSQL, which needs no connection of its own) through the pool,
	// whose connections are replaced when the database comes back.
	conn *sql.Conn
	q    interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
	eng        engine
	version    int64
	generation int64
	notices    <-chan struct{}
	stop       func()
}

// WatchChanges starts watching the store for directory writes from here on.
func (db *DB) WatchChanges(ctx context.Context) (*Changes, error) {
	c := &Changes{q: db.read, eng: db.read.eng, version: -1, generation: -1}
	if c.eng.dataVersion() != "" {
		conn, err := db.read.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: watch changes: %w", err)
		}
		c.conn, c.q = conn, conn
	}
	// Listening first: a write between the first Changed and the LISTEN
	// would otherwise wait for the next poll.
	c.notices, c.stop = c.eng.notices()
	if _, err := c.Changed(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Changed reports whether the directory data changed since the previous
// call.
func (c *Changes) Changed(ctx context.Context) (bool, error) {
	if q := c.eng.dataVersion(); q != "" {
		var v int64
		if err := c.q.QueryRowContext(ctx, q).Scan(&v); err != nil {
			return false, fmt.Errorf("store: watch changes: %w", err)
		}
		if v == c.version {
			return false, nil
		}
		c.version = v
	}
	var g int64
	if err := c.q.QueryRowContext(ctx, "SELECT generation FROM directory_generation WHERE id = 1").Scan(&g); err != nil {
		return false, fmt.Errorf("store: watch changes: %w", err)
	}
	changed := g != c.generation
	c.generation = g
	return changed, nil
}

// Notices receives when another connection may have written the
// directory: call Changed to know. It is nil on SQLite, whose watchers poll.
func (c *Changes) Notices() <-chan struct{} { return c.notices }

// Close releases the connections.
func (c *Changes) Close() error {
	c.stop()
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}
