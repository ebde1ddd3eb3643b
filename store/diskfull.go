package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrDiskFull means a write failed because the store's disk (or its
// file size limit) is full. Nothing of the write was applied.
var ErrDiskFull = errors.New("disk full: no space left for the store")

// DiskFull is the store's disk-full state: set by a write that failed for
// lack of space, cleared by the next Apply that succeeds (a run record
// may still fit where a sync does not).
type DiskFull struct {
	Since time.Time `json:"since"`
	// Cause is the error of the write that found the disk full.
	Cause string `json:"cause"`
}

// fullState tracks DiskFull and a WAL truncation still owed.
type fullState struct {
	mu    sync.Mutex
	full  *DiskFull
	owing bool // a rolled-back write left frames in the WAL: truncate it
}

// DiskFull reports whether a write found the disk full since the last
// successful Apply, and since when.
func (db *DB) DiskFull() (DiskFull, bool) {
	db.full.mu.Lock()
	defer db.full.mu.Unlock()
	if db.full.full == nil {
		return DiskFull{}, false
	}
	return *db.full.full, true
}

// ErrBusy means another writer (a second ldapgate sync) held the store
// longer than the busy timeout (SQLite's busy_timeout, PostgreSQL's
// lock_timeout: 5 s); nothing was written.
var ErrBusy = errors.New("the store is busy with another writer")

// primaryCode reports whether err is a SQLite error of the primary result
// code (extended codes included).
func primaryCode(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == code
}

func isFull(err error) bool {
	return primaryCode(err, sqlite3.SQLITE_FULL) || pgCode(err) == pgDiskFull
}

func isBusy(err error) bool {
	return primaryCode(err, sqlite3.SQLITE_BUSY) || pgCode(err) == pgLockNotAvailable
}

// wrote notes the outcome of a write. A write that failed for lack of
// space marks the store full and wraps the error with ErrDiskFull; a
// successful apply clears the mark. Either way a WAL truncation still owed is
// tried: the frames a rolled-back transaction wrote to the WAL stay in the
// file (on the full disk) until a checkpoint truncates it.
func (db *DB) wrote(ctx context.Context, err error, apply bool) error {
	full := err != nil && isFull(err)
	db.full.mu.Lock()
	switch {
	case full:
		if db.full.full == nil {
			db.full.full = &DiskFull{Since: db.Now().UTC(), Cause: err.Error()}
		}
		_, db.full.owing = db.write.eng.(sqliteEngine) // PostgreSQL has no WAL of ours to truncate
	case err == nil && apply:
		db.full.full = nil
	}
	owing := db.full.owing
	db.full.mu.Unlock()
	if owing {
		_ = db.TruncateWAL(ctx) // best effort; owed until it works
	}
	switch {
	case full:
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case err != nil && isBusy(err):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

// TruncateWAL checkpoints the WAL and truncates it to zero bytes if a
// write that found the disk full left it large; otherwise it does nothing.
// It fails (and stays owed) while a reader holds an old snapshot or the
// checkpoint itself finds no space.
func (db *DB) TruncateWAL(ctx context.Context) error {
	db.full.mu.Lock()
	owing := db.full.owing
	db.full.mu.Unlock()
	if !owing {
		return nil
	}
	var busy, logPages, done int
	if err := db.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("store: truncate wal: %w", err)
	}
	if busy != 0 {
		return errors.New("store: truncate wal: a reader holds the wal; try again")
	}
	db.full.mu.Lock()
	db.full.owing = false
	db.full.mu.Unlock()
	return nil
}
