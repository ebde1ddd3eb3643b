package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// PortalSession is a signed-in session of the web portal. The store keeps
// them so that every ldapgate sharing it knows them.
type PortalSession struct {
	// Key identifies the session: a hash of its cookie, never the cookie.
	Key     string
	UserID  string
	Email   string
	CSRF    string
	Expires time.Time
}

// PutPortalSession stores a new session, and drops the expired ones.
func (db *DB) PutPortalSession(ctx context.Context, s PortalSession) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM portal_sessions WHERE julianday(expires_at) <= julianday(?)`, db.now()); err != nil {
		return fmt.Errorf("store: put portal session: %w", err)
	}
	_, err := db.write.ExecContext(ctx, `INSERT INTO portal_sessions (key, user_id, email, csrf, expires_at) VALUES (?, ?, ?, ?, ?)`,
		s.Key, s.UserID, s.Email, s.CSRF, formatTime(s.Expires))
	if err != nil {
		return fmt.Errorf("store: put portal session: %w", dbError(err))
	}
	return nil
}

// PortalSession returns the session with the given key if it has not
// expired, else an error wrapping ErrNotFound.
func (db *DB) PortalSession(ctx context.Context, key string) (PortalSession, error) {
	s := PortalSession{Key: key}
	var expires sql.NullString
	err := db.read.QueryRowContext(ctx, `SELECT user_id, email, csrf, expires_at FROM portal_sessions
		WHERE key = ? AND julianday(expires_at) > julianday(?)`, key, db.now()).Scan(&s.UserID, &s.Email, &s.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err == nil {
		err = parseTimes(timeField{&s.Expires, expires})
	}
	if err != nil {
		return PortalSession{}, fmt.Errorf("store: portal session: %w", err)
	}
	return s, nil
}

// DeletePortalSession ends the session with the given key, if any.
func (db *DB) DeletePortalSession(ctx context.Context, key string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM portal_sessions WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: delete portal session: %w", err)
	}
	return nil
}

// PortalSecret returns the portal's secret name, size random bytes made by
// the first ldapgate that asked and the same for all the others.
func (db *DB) PortalSecret(ctx context.Context, name string, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("store: portal secret %s: %w", name, err)
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO portal_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		name, hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("store: portal secret %s: %w", name, err)
	}
	var v string
	if err := db.write.QueryRowContext(ctx, `SELECT value FROM portal_secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: portal secret %s: %w", name, err)
	}
	out, err := hex.DecodeString(v)
	if err != nil || len(out) != size {
		return nil, fmt.Errorf("store: portal secret %s: stored value is not %d bytes", name, size)
	}
	return out, nil
}
