package store

import (
	"testing"
)

func testChangesSeesOtherConnections(t *testing.T, be backend) {
	path := be.fresh(t)
	db := be.openAt(t, path)
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
	other := be.openAt(t, path)
	if err := other.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Error("a commit by another connection was not seen")
	}

	// Commits that change nothing served do not count.
	ap, err := other.CreateAppPassword(t.Context(), AppPassword{UserID: alice.ID, Name: "mail", Hash: "$argon2id$x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.TouchAppPassword(t.Context(), ap.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.RecordRun(t.Context(), SyncRun{Source: "file", Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(t.Context(), &Plan{}, SyncRun{Source: "file"}); err != nil {
		t.Fatal(err)
	}
	if changed() {
		t.Error("app password use, a failed run and an empty plan counted as directory changes")
	}
	if err := other.RevokeAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Error("a revoked grant was not seen")
	}
	local := User{ID: "local-1", UID: "svc", PrimaryEmail: "svc@example.com"}
	if err := other.PutLocalUser(t.Context(), local); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Error("a local user was not seen")
	}
	// A failed write raises nothing.
	if err := other.GrantAdmin(t.Context(), "no-such-user", "export"); err == nil {
		t.Fatal("grant to a missing user succeeded")
	}
	if changed() {
		t.Error("a failed grant counted as a change")
	}
}
