package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// limitPages caps the database file at its current size plus extra pages,
// on the writer connection: SQLite then fails writes beyond it with
// SQLITE_FULL, as a full disk does.
func limitPages(tb testing.TB, db *DB, extra int) {
	tb.Helper()
	ctx := context.Background()
	var pages int
	if err := db.write.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		tb.Fatal(err)
	}
	var got int
	if err := db.write.QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+extra)).Scan(&got); err != nil {
		tb.Fatal(err)
	}
}

// paddedPlan adds n users of about 2 KB each: more than the page cache holds,
// so the transaction spills into the WAL before it fails.
func paddedPlan(n int) *Plan {
	p := &Plan{}
	pad := strings.Repeat("x", 2000)
	for i := range n {
		p.Users = append(p.Users, UserChange{Action: ActionAdd, User: User{
			ID: fmt.Sprint("big", i), UID: fmt.Sprint("big", i), PrimaryEmail: fmt.Sprintf("big%d@example.com", i),
			Origin: OriginDirectory, Attributes: map[string][]string{"description": {pad}},
		}})
	}
	return p
}

func walSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// A sync that finds the disk full rolls back, says so (ErrDiskFull,
// DiskFull), and leaves no large WAL behind; its run is still recorded,
// and the next write that fits clears the state.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ldapgate.db")
	db := openPath(t, path)
	c := &clock{t: t0}
	db.Now = c.now
	mustApply(t, db, seedPlan())
	if err := db.TruncateWAL(ctx); err != nil { // nothing owed: a no-op
		t.Fatal(err)
	}
	limitPages(t, db, 64)

	_, err := db.Apply(ctx, paddedPlan(3000), SyncRun{Source: "test"})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Apply on a full disk: %v, want ErrDiskFull", err)
	}
	full, ok := db.DiskFull()
	if !ok || !full.Since.Equal(t0) || !strings.Contains(full.Cause, "full") {
		t.Errorf("DiskFull() = %+v, %v; want full since %s", full, ok, t0)
	}
	if n := walSize(t, path); n != 0 {
		t.Errorf("WAL after the rolled-back apply: %d bytes, want it truncated", n)
	}
	if n := count(t, db, `SELECT count(*) FROM users`); n != 3 {
		t.Errorf("%d users after the failed apply, want the 3 seeded", n)
	}
	if _, err := db.RecordRun(ctx, SyncRun{Source: "test", Error: err.Error()}); err != nil {
		t.Fatalf("recording the failed run: %v", err)
	}
	if runs := mustRuns(t, db); !strings.HasPrefix(runs[0].Error, "disk full: ") {
		t.Errorf("run record error %q, want it to start with \"disk full: \"", runs[0].Error)
	}
	if _, ok := db.DiskFull(); !ok {
		t.Error("recording a small run cleared the disk-full state; only a sync that fits may")
	}

	limitPages(t, db, 1<<20) // space returns
	mustApply(t, db, paddedPlan(3000))
	if _, ok := db.DiskFull(); ok {
		t.Error("still full after space returned")
	}
}

// A writer that holds the store past the busy timeout (5 s) fails an
// apply with ErrBusy, which a sync takes as a cue to plan again.
func testApplyBusy(t *testing.T, be backend) {
	if testing.Short() {
		t.Skip("waits for the busy timeout")
	}
	ctx := context.Background()
	path := be.fresh(t)
	db := be.openAt(t, path)
	other := be.openAt(t, path)
	tx, err := other.beginWrite(ctx) // takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := db.Apply(ctx, seedPlan(), SyncRun{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Apply while another writer holds the store: %v, want ErrBusy", err)
	}
}
