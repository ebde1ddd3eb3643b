package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
)

// fakeHash is shaped like an argon2id hash; these tests never verify it.
const fakeHash = "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"

// fourUsers is a snapshot of four users; u0 and u1 are in /Sales.
func fourUsers(mods map[string]func(*store.User)) *store.Snapshot {
	snap := &store.Snapshot{}
	for i := range 4 {
		id := fmt.Sprint("u", i)
		ou := "/Sales"
		if i >= 2 {
			ou = "/Staff"
		}
		u := usr(id, fmt.Sprintf("user%d@example.com", i), inOU(ou))
		if m := mods[id]; m != nil {
			m(&u)
		}
		snap.Users = append(snap.Users, u)
	}
	return snap
}

type storeClock struct{ t time.Time }

func (c *storeClock) now() time.Time { return c.t }

func runSync(t testing.TB, db *store.DB, snap *store.Snapshot, opts Options, run RunOptions) *Result {
	t.Helper()
	res, err := New(&snapSource{snap: snap}, db, opts, nil).Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func activeNames(t testing.TB, db *store.DB, userID string) []string {
	t.Helper()
	aps, err := db.ActiveAppPasswords(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ap := range aps {
		out = append(out, ap.Name)
	}
	return out
}

func storedUser(t testing.TB, db *store.DB, id string) *store.User {
	t.Helper()
	st, _ := contents(t, db)
	i := slices.IndexFunc(st.Users, func(u store.User) bool { return u.ID == id })
	if i < 0 {
		return nil
	}
	return &st.Users[i]
}

// A config edit that narrows the filter deletes users; putting the filter
// back within the retention restores their UID, first appearance (the
// order of derived POSIX numbers), default and admin privileges and app
// passwords. After the retention a returning user starts afresh.
func TestDeletedUserReturns(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &storeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	db.Now = clk.now
	opts := Options{DeleteUsers: true, MaxDeletePercent: 100, DefaultPrivileges: []string{"login"}}
	narrow := opts
	narrow.Filter = Filter{OrgUnits: []string{"/Staff"}}

	runSync(t, db, fourUsers(nil), opts, RunOptions{})
	before := *storedUser(t, db, "u0")
	if _, err := db.CreateAppPassword(ctx, store.AppPassword{UserID: "u0", Name: "archive", Hash: fakeHash}); err != nil {
		t.Fatal(err)
	}
	if err := db.GrantAdmin(ctx, "u0", "export"); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAdmin(ctx, "u1", "login"); err != nil { // a revoked default stays revoked
		t.Fatal(err)
	}
	stBefore, _ := contents(t, db)

	clk.t = clk.t.Add(time.Hour)
	res := runSync(t, db, fourUsers(nil), narrow, RunOptions{})
	if res.Counts.UsersDeleted != 2 {
		t.Fatalf("narrowed filter deleted %d users, want 2", res.Counts.UsersDeleted)
	}
	if storedUser(t, db, "u0") != nil {
		t.Fatal("u0 is still in the directory after its deletion")
	}
	deleted, err := db.DeletedUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || deleted[0].ID != "u0" || deleted[0].UID != "user0" || deleted[0].AppPasswords != 1 || deleted[0].Grants != 2 {
		t.Fatalf("tombstones %+v; want u0 (uid user0, 1 app password, 2 grants) and u1", deleted)
	}

	clk.t = clk.t.Add(24 * time.Hour)
	res = runSync(t, db, fourUsers(nil), opts, RunOptions{})
	if res.Counts.UsersAdded != 2 || res.Counts.GrantsAdded != 0 {
		t.Errorf("restore counts %+v, want 2 users added and no new grants", res.Counts)
	}
	for _, c := range res.Plan.Users {
		if c.Reason != ReasonReturned {
			t.Errorf("plan adds %s with reason %q, want %q", c.User.PrimaryEmail, c.Reason, ReasonReturned)
		}
	}
	after := storedUser(t, db, "u0")
	if after == nil || after.UID != before.UID || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("returned u0 = %+v; want uid %s, created %s", after, before.UID, before.CreatedAt)
	}
	if diff := cmp.Diff(activeNames(t, db, "u0"), []string{"archive"}); diff != "" {
		t.Errorf("app passwords of returned u0 (-got +want):\n%s", diff)
	}
	stAfter, _ := contents(t, db)
	for _, id := range []string{"u0", "u1"} {
		if diff := cmp.Diff(privileges(stAfter, id), privileges(stBefore, id)); diff != "" {
			t.Errorf("privileges of returned %s (-got +want):\n%s", id, diff)
		}
	}
	if deleted, _ := db.DeletedUsers(ctx); len(deleted) != 0 {
		t.Errorf("tombstones left after the return: %+v", deleted)
	}

	// Deleted again, and back only after the retention.
	runSync(t, db, fourUsers(nil), narrow, RunOptions{})
	clk.t = clk.t.Add(db.DeletedRetention + time.Second)
	res = runSync(t, db, fourUsers(nil), opts, RunOptions{})
	if res.Counts.GrantsAdded != 2 {
		t.Errorf("after the retention: %d grants added, want the 2 defaults", res.Counts.GrantsAdded)
	}
	after = storedUser(t, db, "u0")
	if after == nil || !after.CreatedAt.Equal(clk.t) {
		t.Fatalf("u0 back after the retention = %+v; want a new user created %s", after, clk.t)
	}
	if got := activeNames(t, db, "u0"); len(got) != 0 {
		t.Errorf("app passwords back after the retention: %v", got)
	}
	st, _ := contents(t, db)
	if diff := cmp.Diff(privileges(st, "u0"), []string{"login/default"}); diff != "" {
		t.Errorf("privileges of u0 after the retention (-got +want):\n%s", diff)
	}
}

// An explicit purge drops a tombstone before its time.
func TestPurgeDeletedUser(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	opts := Options{DeleteUsers: true, MaxDeletePercent: 100, DefaultPrivileges: []string{"login"}}
	runSync(t, db, fourUsers(nil), opts, RunOptions{})
	if _, err := db.CreateAppPassword(ctx, store.AppPassword{UserID: "u0", Name: "archive", Hash: fakeHash}); err != nil {
		t.Fatal(err)
	}
	narrow := opts
	narrow.Filter = Filter{OrgUnits: []string{"/Staff"}}
	runSync(t, db, fourUsers(nil), narrow, RunOptions{})
	if n, err := db.PurgeDeletedUsers(ctx, "u0"); err != nil || n != 1 {
		t.Fatalf("PurgeDeletedUsers(u0) = %d, %v; want 1", n, err)
	}
	if _, err := db.PurgeDeletedUsers(ctx, "u0"); err == nil {
		t.Error("purging a missing tombstone succeeded")
	}
	res := runSync(t, db, fourUsers(nil), opts, RunOptions{})
	if res.Plan.Users[0].Reason != ReasonNew {
		t.Errorf("purged user comes back with reason %q, want %q", res.Plan.Users[0].Reason, ReasonNew)
	}
	if got := activeNames(t, db, "u0"); len(got) != 0 {
		t.Errorf("app passwords of a purged user came back: %v", got)
	}
}

// Suspending a user in the source ends its app passwords, whether the
// filter keeps suspended users (an update) or not (a deletion whose
// tombstone must not bring them back); enabling the user again does not
// revive them. sync.keep_app_passwords_on_suspend keeps them.
func TestSuspensionRevokesAppPasswords(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		includeSuspended bool
		keep             bool
		mod              func(*store.User)
	}{
		{name: "suspended, kept in scope", includeSuspended: true, mod: suspended},
		{name: "suspended, out of scope", mod: suspended},
		{name: "archived, kept in scope", includeSuspended: true, mod: func(u *store.User) { u.Archived = true }},
		{name: "keep switch", includeSuspended: true, keep: true, mod: suspended},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			opts := Options{DeleteUsers: true, MaxDeletePercent: 100, KeepAppPasswordsOnSuspend: tc.keep,
				Filter: Filter{IncludeSuspended: tc.includeSuspended, IncludeArchived: tc.includeSuspended}}
			runSync(t, db, fourUsers(nil), opts, RunOptions{})
			if _, err := db.CreateAppPassword(ctx, store.AppPassword{UserID: "u0", Name: "archive", Hash: fakeHash}); err != nil {
				t.Fatal(err)
			}
			res := runSync(t, db, fourUsers(map[string]func(*store.User){"u0": tc.mod}), opts, RunOptions{})
			wantRevoked := 1
			if tc.keep {
				wantRevoked = 0
			}
			if res.Counts.AppPasswordsRevoked != wantRevoked {
				t.Errorf("suspending sync: %d users' app passwords revoked, want %d", res.Counts.AppPasswordsRevoked, wantRevoked)
			}
			run, err := db.SyncRun(ctx, res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Counts.AppPasswordsRevoked != wantRevoked || run.Plan.Users[0].RevokeAppPasswords != !tc.keep {
				t.Errorf("run record: counts %+v, user change %+v; want the revocation recorded", run.Counts, run.Plan.Users[0])
			}
			runSync(t, db, fourUsers(nil), opts, RunOptions{}) // enabled again
			want := []string(nil)
			if tc.keep {
				want = []string{"archive"}
			}
			if diff := cmp.Diff(activeNames(t, db, "u0"), want); diff != "" {
				t.Errorf("active app passwords after re-enabling (-got +want):\n%s", diff)
			}
		})
	}
}

// A run started by a config edit deletes no one: the deletions wait for
// the next full run, where the deletion guard counts them.
func TestDeferDeletes(t *testing.T) {
	db := openStore(t)
	opts := Options{DeleteUsers: true, MaxDeletePercent: 10, DefaultPrivileges: []string{"login"}}
	runSync(t, db, fourUsers(nil), opts, RunOptions{})
	narrow := opts
	narrow.Filter = Filter{OrgUnits: []string{"/Staff"}}
	snap := fourUsers(nil)
	snap.Users = append(snap.Users, usr("u9", "new@example.com", inOU("/Staff")))
	res := runSync(t, db, snap, narrow, RunOptions{DeferDeletes: true})
	if res.DeferredDeletes != 2 || res.Counts.UsersDeleted != 0 || res.Counts.UsersAdded != 1 || !res.Applied {
		t.Fatalf("deferred run: %d deferred, counts %+v, applied %v; want 2 deferred, the add applied", res.DeferredDeletes, res.Counts, res.Applied)
	}
	st, _ := contents(t, db)
	if len(st.Users) != 5 || len(privileges(st, "u0")) != 1 {
		t.Fatalf("after the deferred run: %d users, u0 privileges %v; want 5 users, u0 whole", len(st.Users), privileges(st, "u0"))
	}
	_, err := New(&snapSource{snap: snap}, db, narrow, nil).Run(context.Background(), RunOptions{})
	if !errors.Is(err, ErrTooManyDeletes) {
		t.Errorf("the next full run: %v, want the guard to refuse 2 of 5 deletions", err)
	}
}

// Google lets an admin delete a user and recreate its address as a new
// user. A run that defers the deletion holds the new user back too (its
// UID and address are still taken) rather than fail on the conflict.
func TestDeferDeletesHoldsBackRecreatedUsers(t *testing.T) {
	db := openStore(t)
	opts := Options{DeleteUsers: true, MaxDeletePercent: 100, DefaultPrivileges: []string{"login"}}
	runSync(t, db, fourUsers(nil), opts, RunOptions{})
	snap := fourUsers(nil)
	snap.Users[0].ID = "u0-recreated"
	res := runSync(t, db, snap, opts, RunOptions{DeferDeletes: true})
	if res.DeferredDeletes != 1 || res.Counts.UsersAdded != 0 || res.Counts.GrantsAdded != 0 || !res.Applied {
		t.Fatalf("deferred run: %d deferred, counts %+v, applied %v; want the deletion and the recreation held back",
			res.DeferredDeletes, res.Counts, res.Applied)
	}
	res = runSync(t, db, snap, opts, RunOptions{})
	if u := storedUser(t, db, "u0-recreated"); res.Counts.UsersDeleted != 1 || u == nil || u.UID != "user0" {
		t.Errorf("full run: counts %+v, recreated user %+v; want u0 deleted and the new one as user0", res.Counts, u)
	}
}
