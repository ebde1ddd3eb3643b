package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is a named claim that expires unless its holder renews it. The
// ldapgates that share a store use leases to take turns; the data itself
// never depends on them (an apply takes the write lock and checks the
// plan's generation whatever the leases say).
type Lease struct {
	Name   string
	Holder string
	// Expires is when the lease lapses unless renewed, by the clock of
	// the holder that took it.
	Expires time.Time
}

// ErrLeaseHeld means another holder holds the lease, and it has not
// expired.
var ErrLeaseHeld = errors.New("lease held by another")

// TakeLease takes the lease name for holder until Now+ttl if it is free,
// expired, or holder's already (a renewal), and returns it. Otherwise it
// returns the lease as it stands and an error wrapping ErrLeaseHeld.
//
// It is one statement, outside the write lock: a holder in the middle of
// a long apply can still renew its leases.
func (db *DB) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return Lease{}, errors.New("store: take lease: name, holder and a positive ttl are required")
	}
	now := db.Now()
	expires := now.Add(ttl)
	res, err := db.write.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR julianday(leases.expires_at) <= julianday(?)`,
		name, holder, formatTime(expires), formatTime(now))
	if err != nil {
		return Lease{}, fmt.Errorf("store: take lease %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Lease{}, fmt.Errorf("store: take lease %s: %w", name, err)
	} else if n == 1 {
		return Lease{Name: name, Holder: holder, Expires: expires.UTC()}, nil
	}
	cur, err := db.lease(ctx, name)
	if err != nil {
		return Lease{}, err
	}
	return cur, fmt.Errorf("store: take lease %s: %w: %s until %s", name, ErrLeaseHeld, cur.Holder, cur.Expires.Format(time.RFC3339))
}

// lease reads the lease name as it stands.
func (db *DB) lease(ctx context.Context, name string) (Lease, error) {
	l := Lease{Name: name}
	var expires sql.NullString
	err := db.write.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&l.Holder, &expires)
	if err == nil {
		err = parseTimes(timeField{&l.Expires, expires})
	}
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return l, nil
}

// DropLease gives up holder's lease name, so that another holder can take
// it at once. It does nothing if holder does not hold it.
func (db *DB) DropLease(ctx context.Context, name, holder string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("store: drop lease %s: %w", name, err)
	}
	return nil
}
