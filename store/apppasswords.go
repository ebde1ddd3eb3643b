package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AppPassword is a password a user may bind with instead of their Google
// password. The store keeps only its hash (argon2id, PHC string form).
type AppPassword struct {
	ID     int64  `json:"id"`
	UserID string `json:"userId"`
	// Name is the user's label ("archive on my laptop"), unique among the
	// user's active app passwords (case-insensitive).
	Name string `json:"name"`
	// Service, if set, limits the app password to one service (see the
	// bind chain's app_passwords.services).
	Service    string    `json:"service,omitempty"`
	Hash       string    `json:"-"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"` // zero if never used
	Revoked    bool      `json:"revoked,omitempty"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	// Selector picks the app password a typed password is compared with
	// (1..65536, from the password; see bindproxy); 0 if it has none, so
	// that every bind compares with it.
	Selector int `json:"-"`
}

// MaxActiveAppPasswords bounds a user's active app passwords: an uncached
// bind may compare the password with each of them.
const MaxActiveAppPasswords = 10

// ErrLimit means a user already has MaxActiveAppPasswords active app passwords.
var ErrLimit = errors.New("too many active app passwords")

const appPasswordColumns = `id, user_id, name, service, hash, created_at, last_used_at, revoked, revoked_at, coalesce(selector, 0)`

func scanAppPassword(row interface{ Scan(...any) error }) (AppPassword, error) {
	var (
		ap                         AppPassword
		created, used, revokedTime sql.NullString
	)
	if err := row.Scan(&ap.ID, &ap.UserID, &ap.Name, &ap.Service, &ap.Hash, &created, &used, &ap.Revoked, &revokedTime, &ap.Selector); err != nil {
		return AppPassword{}, err
	}
	err := parseTimes(timeField{&ap.CreatedAt, created}, timeField{&ap.LastUsedAt, used}, timeField{&ap.RevokedAt, revokedTime})
	if err != nil {
		return AppPassword{}, fmt.Errorf("app password %d: %w", ap.ID, err)
	}
	return ap, nil
}

// CreateAppPassword stores a new active app password for ap.UserID with
// ap.Name, ap.Service and ap.Hash, and returns it as stored (with ID and
// CreatedAt). The error wraps ErrNotFound if there is no such user,
// ErrConflict if the user has an active app password of that name, and
// ErrLimit if the user has MaxActiveAppPasswords already.
func (db *DB) CreateAppPassword(ctx context.Context, ap AppPassword) (AppPassword, error) {
	ap.Name = strings.TrimSpace(ap.Name)
	ap.Service = strings.TrimSpace(ap.Service)
	if ap.UserID == "" || ap.Name == "" || !strings.HasPrefix(ap.Hash, "$argon2id$") {
		return AppPassword{}, errors.New("store: create app password: user id, name and an argon2id hash are required")
	}
	fail := func(err error) (AppPassword, error) {
		return AppPassword{}, fmt.Errorf("store: create app password %q for user %s: %w", ap.Name, ap.UserID, err)
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM users WHERE id = ?`, ap.UserID).Scan(&exists); err != nil {
		return fail(err)
	}
	if !exists {
		return fail(ErrNotFound)
	}
	var active int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM app_passwords WHERE user_id = ? AND revoked = FALSE`, ap.UserID).Scan(&active); err != nil {
		return fail(err)
	}
	if active >= MaxActiveAppPasswords {
		return fail(fmt.Errorf("%w (%d): revoke one first", ErrLimit, MaxActiveAppPasswords))
	}
	row := tx.QueryRowContext(ctx, `INSERT INTO app_passwords (user_id, name, service, hash, created_at, selector)
		VALUES (?, ?, ?, ?, ?, nullif(?, 0)) RETURNING `+appPasswordColumns, ap.UserID, ap.Name, ap.Service, ap.Hash, db.now(), ap.Selector)
	out, err := scanAppPassword(row)
	if err != nil {
		return fail(dbError(err))
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return out, nil
}

// AppPasswords returns the app passwords of the user with the given id,
// revoked ones included, newest first. Hash is left empty.
func (db *DB) AppPasswords(ctx context.Context, userID string) ([]AppPassword, error) {
	aps, err := db.queryAppPasswords(ctx, `SELECT `+appPasswordColumns+` FROM app_passwords
		WHERE user_id = ? ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: app passwords of user %s: %w", userID, err)
	}
	for i := range aps {
		aps[i].Hash = ""
	}
	return aps, nil
}

// ActiveAppPasswords returns the user's active (not revoked) app passwords
// with their hashes, oldest first: the candidates a bind password is
// compared with.
func (db *DB) ActiveAppPasswords(ctx context.Context, userID string) ([]AppPassword, error) {
	aps, err := db.queryAppPasswords(ctx, `SELECT `+appPasswordColumns+` FROM app_passwords
		WHERE user_id = ? AND revoked = FALSE ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: active app passwords of user %s: %w", userID, err)
	}
	return aps, nil
}

// SetAppPasswordSelector gives app password id the selector sel, if it has
// none yet (one made before selectors existed, on its first bind).
func (db *DB) SetAppPasswordSelector(ctx context.Context, id int64, sel int) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE app_passwords SET selector = ? WHERE id = ? AND selector IS NULL`, sel, id); err != nil {
		return fmt.Errorf("store: set selector of app password %d: %w", id, dbError(err))
	}
	return nil
}

func (db *DB) queryAppPasswords(ctx context.Context, query string, args ...any) ([]AppPassword, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AppPassword
	for rows.Next() {
		ap, err := scanAppPassword(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, rows.Err()
}

// AppPasswordActive reports whether the app password with the given id
// exists, belongs to the user with the given id, and is not revoked. It is
// one indexed read, cheap enough for every cached bind.
func (db *DB) AppPasswordActive(ctx context.Context, userID string, id int64) (bool, error) {
	var ok bool
	err := db.read.QueryRowContext(ctx, `SELECT count(*) > 0 FROM app_passwords
		WHERE id = ? AND user_id = ? AND revoked = FALSE`, id, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: app password %d: %w", id, err)
	}
	return ok, nil
}

// RevokeAppPassword revokes the user's app password with the given id. The
// error wraps ErrNotFound if the user has no such active app password.
func (db *DB) RevokeAppPassword(ctx context.Context, userID string, id int64) error {
	res, err := db.write.ExecContext(ctx, `UPDATE app_passwords SET revoked = TRUE, revoked_at = ?
		WHERE id = ? AND user_id = ? AND revoked = FALSE`, db.now(), id, userID)
	if err != nil {
		return fmt.Errorf("store: revoke app password %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: revoke app password %d of user %s: %w", id, userID, ErrNotFound)
	}
	return nil
}

// TouchAppPassword records that the app password with the given id was
// used at DB.Now.
func (db *DB) TouchAppPassword(ctx context.Context, id int64) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE app_passwords SET last_used_at = ? WHERE id = ?`, db.now(), id); err != nil {
		return fmt.Errorf("store: touch app password %d: %w", id, err)
	}
	return nil
}
