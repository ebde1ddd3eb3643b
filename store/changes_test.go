package store

import (
	"testing"
	"time"
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

// waitNotice waits for a notice, failing the test after 10 s.
func waitNotice(t *testing.T, c *Changes, what string) {
	t.Helper()
	select {
	case <-c.Notices():
	case <-time.After(10 * time.Second):
		t.Fatalf("no notice %s within 10s", what)
	}
}

// A directory write by another ldapgate is announced to watchers, also
// after their listening connection was dropped.
func testChangesNotices(t *testing.T, be backend) {
	where := be.fresh(t)
	db, other := be.openAt(t, where), be.openAt(t, where)
	c, err := db.WatchChanges(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Notices() == nil {
		if be.name == "sqlite" {
			t.Skip("a SQLite store has no notifications: its watchers poll data_version")
		}
		t.Fatal("no notices")
	}
	waitNotice(t, c, "when listening starts")
	mustApply(t, other, seedPlan())
	waitNotice(t, c, "of another ldapgate's apply")
	if ok, err := c.Changed(t.Context()); err != nil || !ok {
		t.Fatalf("Changed after a notice = %v, %v; want true", ok, err)
	}

	// The listening connection is dropped (a database restart, a network
	// cut): the watcher connects again and says so.
	var n int
	if err := other.write.QueryRowContext(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN `+changeChannel+`'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d listening connections, want 1", n)
	}
	waitNotice(t, c, "after the connection was dropped")
	if err := other.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	waitNotice(t, c, "of a grant after the connection came back")
	if ok, err := c.Changed(t.Context()); err != nil || !ok {
		t.Fatalf("Changed after the grant = %v, %v; want true", ok, err)
	}
}
