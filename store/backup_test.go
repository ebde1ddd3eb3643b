package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBackupRestoresIdentical(t *testing.T) {
	db, _ := openTest(t)
	mustApply(t, db, seedPlan())
	if err := db.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	want := mustLoad(t, db)
	wantRuns := mustRuns(t, db)

	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	// The store stays usable after the backup.
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionDelete, User: bob}}})

	restored := openPath(t, dst)
	if diff := cmp.Diff(mustLoad(t, restored), want); diff != "" {
		t.Errorf("restored state (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(mustRuns(t, restored), wantRuns); diff != "" {
		t.Errorf("restored runs (-got +want):\n%s", diff)
	}
	entries, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	db, _ := openTest(t)
	dst := filepath.Join(t.TempDir(), "existing.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(t.Context(), dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Error("the existing file was changed")
	}
}

// Backup refuses a PostgreSQL store and says what to use instead.
func TestBackupRefusesPostgres(t *testing.T) {
	db, _ := backends[1].openTest(t)
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(t.Context(), dst); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("Backup of a PostgreSQL store: %v, want a refusal naming pg_dump", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("Backup left %s: %v", dst, err)
	}
}
