package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// backupPagesPerStep is how many pages one backup step copies; between steps
// the source is unlocked, so a running sync is never held up for long.
const backupPagesPerStep = 1024

// Backup writes a consistent copy of the store to dst with SQLite's online
// backup, while the store stays in use. dst must not exist; the copy appears
// there only once it is complete.
//
// A PostgreSQL store is backed up with PostgreSQL's tools (pg_dump); Backup
// refuses it.
func (db *DB) Backup(ctx context.Context, dst string) error {
	if _, ok := db.read.eng.(sqliteEngine); !ok {
		return errors.New("store: backup: the store is on PostgreSQL: back it up with pg_dump")
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: backup: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".partial-*")
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)

	conn, err := db.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		src, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("driver connection %T cannot back up", dc)
		}
		b, err := src.NewBackup(tmpName)
		if err != nil {
			return err
		}
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				b.Finish()
				return err
			}
			if more, err = b.Step(backupPagesPerStep); err != nil {
				b.Finish()
				return err
			}
		}
		return b.Finish()
	})
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
