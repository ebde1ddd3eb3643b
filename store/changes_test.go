package store

import (
	"path/filepath"
	"testing"
)

func TestChangesSeesOtherConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ldapgate.db")
	db := openPath(t, path)
	c, err := db.WatchChanges(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	changed := func() bool {
		t.Helper()
		ok, err := c.Changed(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if changed() {
		t.Error("changed before any write")
	}
	mustApply(t, db, seedPlan()) // this process's writer
	if !changed() {
		t.Error("a commit by the writer was not seen")
	}
	if changed() {
		t.Error("the same commit was reported twice")
	}
	// Another process, as the CLI is: a second DB on the same file.
	other := openPath(t, path)
	if err := other.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Error("a commit by another connection was not seen")
	}
}
