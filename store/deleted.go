package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DeletedUser is the tombstone of a directory user a sync deleted: the
// user left the directory, but its UID, first appearance, default and
// admin grants and app passwords come back if the same source user (same
// ID) returns within DB.DeletedRetention.
type DeletedUser struct {
	ID           string    `json:"id"`
	UID          string    `json:"uid"`
	PrimaryEmail string    `json:"primaryEmail"`
	DisplayName  string    `json:"displayName,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	DeletedAt    time.Time `json:"deletedAt"`
	// ExpiresAt is when the tombstone is purged.
	ExpiresAt time.Time `json:"expiresAt"`
	Reason    string    `json:"reason,omitempty"`
	// Grants and AppPasswords count what a return restores (app passwords:
	// the active ones).
	Grants       int `json:"grants"`
	AppPasswords int `json:"appPasswords"`
}

// DefaultDeletedRetention is how long Open keeps tombstones.
const DefaultDeletedRetention = 30 * 24 * time.Hour

// appPasswordRow are the columns of app_passwords that a tombstone keeps:
// all of them.
const appPasswordRow = `id, user_id, name, service, hash, created_at, last_used_at, revoked, revoked_at, selector`

// appPasswordsRevoke revokes a user's active app passwords.
const appPasswordsRevoke = `UPDATE app_passwords SET revoked = TRUE, revoked_at = ? WHERE user_id = ? AND revoked = FALSE`

// cutoff is the deletion time at or before which tombstones have expired.
func (db *DB) cutoff() string { return formatTime(db.Now().Add(-db.DeletedRetention)) }

// purgeExpired deletes the tombstones older than the retention.
func (db *DB) purgeExpired(ctx context.Context, tx *txn) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM deleted_users WHERE julianday(deleted_at) <= julianday(?)`, db.cutoff())
	if err != nil {
		return fmt.Errorf("purge expired deleted users: %w", err)
	}
	return nil
}

// tombstone keeps what a return of the user with the given id restores;
// it runs before the user is deleted. Reason says why it was deleted.
func (a *applier) tombstone(ctx context.Context, id, reason string) error {
	for _, q := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM deleted_users WHERE id = ?`, []any{id}},
		{`INSERT INTO deleted_users (id, uid, primary_email, display_name, created_at, deleted_at, reason)
			SELECT id, uid, primary_email, display_name, created_at, ?, ? FROM users WHERE id = ? AND origin = 'directory'`,
			[]any{a.now, reason, id}},
		{`INSERT INTO deleted_grants (user_id, privilege, origin, created_at)
			SELECT user_id, privilege, origin, created_at FROM grants WHERE user_id = ? AND origin IN ('default', 'admin')`,
			[]any{id}},
		{`INSERT INTO deleted_app_passwords (` + appPasswordRow + `)
			SELECT ` + appPasswordRow + ` FROM app_passwords WHERE user_id = ?`, []any{id}},
	} {
		if _, err := a.exec(ctx, q.query, q.args...); err != nil {
			return fmt.Errorf("keep tombstone: %w", err)
		}
	}
	return nil
}

// tombstoneCreated returns the creation time kept by the tombstone of the
// user with the given id, if there is one.
func (a *applier) tombstoneCreated(ctx context.Context, id string) (string, bool, error) {
	var created string
	err := a.tx.QueryRowContext(ctx, `SELECT created_at FROM deleted_users WHERE id = ?`, id).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return created, err == nil, err
}

// restore gives the user with the given id, just added again, what its
// tombstone kept, and drops the tombstone.
func (a *applier) restore(ctx context.Context, id string) error {
	for _, q := range []string{
		`INSERT INTO grants (user_id, privilege, origin, rule, created_at)
			SELECT user_id, privilege, origin, '', created_at FROM deleted_grants WHERE user_id = ?`,
		`INSERT INTO app_passwords (` + appPasswordRow + `)
			SELECT ` + appPasswordRow + ` FROM deleted_app_passwords WHERE user_id = ?`,
		`DELETE FROM deleted_users WHERE id = ?`,
	} {
		if _, err := a.exec(ctx, q, id); err != nil {
			return fmt.Errorf("restore from tombstone: %w", err)
		}
	}
	return nil
}

// loadDeleted reads the tombstones that have not expired, by ID.
func (db *DB) loadDeleted(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]DeletedUser, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.id, d.uid, d.primary_email, d.display_name, d.created_at, d.deleted_at, d.reason,
			(SELECT count(*) FROM deleted_grants g WHERE g.user_id = d.id),
			(SELECT count(*) FROM deleted_app_passwords p WHERE p.user_id = d.id AND p.revoked = FALSE)
		FROM deleted_users d WHERE julianday(d.deleted_at) > julianday(?) ORDER BY d.id`, db.cutoff())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeletedUser
	for rows.Next() {
		var (
			d                DeletedUser
			created, deleted sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.UID, &d.PrimaryEmail, &d.DisplayName, &created, &deleted, &d.Reason, &d.Grants, &d.AppPasswords); err != nil {
			return nil, err
		}
		if err := parseTimes(timeField{&d.CreatedAt, created}, timeField{&d.DeletedAt, deleted}); err != nil {
			return nil, fmt.Errorf("deleted user %s: %w", d.PrimaryEmail, err)
		}
		d.ExpiresAt = d.DeletedAt.Add(db.DeletedRetention)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeletedUsers returns the tombstones that have not expired, by ID.
func (db *DB) DeletedUsers(ctx context.Context) ([]DeletedUser, error) {
	out, err := db.loadDeleted(ctx, db.read)
	if err != nil {
		return nil, fmt.Errorf("store: deleted users: %w", err)
	}
	return out, nil
}

// PurgeDeletedUsers drops the tombstones of the users with the given ids
// (all tombstones if none are given), with their grants and app passwords,
// and returns how many it dropped. The error wraps ErrNotFound if an id
// has no tombstone; then nothing is dropped.
func (db *DB) PurgeDeletedUsers(ctx context.Context, ids ...string) (int64, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: purge deleted users: %w", err)
	}
	defer tx.Rollback()
	var n int64
	if len(ids) == 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM deleted_users`)
		if err != nil {
			return 0, fmt.Errorf("store: purge deleted users: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("store: purge deleted users: %w", err)
		}
	}
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM deleted_users WHERE id = ?`, id)
		if err != nil {
			return 0, fmt.Errorf("store: purge deleted user %s: %w", id, err)
		}
		one, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("store: purge deleted user %s: %w", id, err)
		}
		if one == 0 {
			return 0, fmt.Errorf("store: purge deleted user %s: %w", id, ErrNotFound)
		}
		n += one
	}
	// A plan made before may restore one of them: raising the generation
	// makes it stale, so the sync plans again.
	if err := bumpGeneration(ctx, tx); err != nil {
		return 0, fmt.Errorf("store: purge deleted users: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: purge deleted users: %w", err)
	}
	return n, nil
}
