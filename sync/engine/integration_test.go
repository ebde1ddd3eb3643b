package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

const demoFile = "../../configs/demo-directory.json"

// demoOptions are the sync settings of configs/demo.yaml.
var demoOptions = Options{
	Filter:            Filter{Groups: []string{"archive-users@example.com"}},
	DeleteUsers:       true,
	MaxDeletePercent:  10,
	DefaultPrivileges: []string{"login", "read-own-archive"},
	Rules:             []Rule{{Group: "archive-admins@example.com", Privileges: []string{"admin", "export"}}},
	PrimaryDomain:     "example.com",
}

// openStore opens a store in a temporary folder.
func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ldapgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// contents is what a store holds: its state and its run records.
func contents(t testing.TB, db *store.DB) (*store.State, []store.SyncRun) {
	t.Helper()
	st, err := db.LoadState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runs, err := db.SyncRuns(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return st, runs
}

// syncDemo runs a full sync of the demo file into db.
func syncDemo(t testing.TB, db *store.DB) *Result {
	t.Helper()
	res, err := New(dirfile.New(demoFile), db, demoOptions, nil).Run(context.Background(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func userID(t testing.TB, st *store.State, email string) string {
	t.Helper()
	i := slices.IndexFunc(st.Users, func(u store.User) bool { return u.PrimaryEmail == email })
	if i < 0 {
		t.Fatalf("no user %s in the store", email)
	}
	return st.Users[i].ID
}

func privileges(st *store.State, userID string) []string {
	var out []string
	for _, g := range st.Grants {
		if g.UserID == userID {
			out = append(out, g.Privilege+"/"+string(g.Origin))
		}
	}
	slices.Sort(out)
	return out
}

func TestIntegrationDemoSync(t *testing.T) {
	db := openStore(t)
	res := syncDemo(t, db)
	if !res.Applied || res.RunID == 0 {
		t.Fatalf("first sync: applied %v, run %d", res.Applied, res.RunID)
	}
	wantCounts := store.Counts{UsersAdded: 45, GroupsAdded: 11, MembersAdded: 64, GrantsAdded: 45*2 + 2*2}
	if diff := cmp.Diff(res.Counts, wantCounts); diff != "" {
		t.Errorf("first sync counts (-got +want):\n%s", diff)
	}

	st, runs := contents(t, db)
	if len(st.Users) != 45 || len(st.Groups) != 11 || len(runs) != 1 {
		t.Errorf("store holds %d users, %d groups, %d runs; want 45, 11, 1", len(st.Users), len(st.Groups), len(runs))
	}
	uids := make(map[string]string)
	for _, u := range st.Users {
		uids[u.PrimaryEmail] = u.UID
	}
	for email, want := range map[string]string{
		"alice@example.com":         "alice",
		"alice@example.org":         "alice.example-org",
		"thomas.becker@example.com": "thomas.becker",
		"mark.wilson@example.com":   "", // suspended
		"linda.park@example.com":    "", // archived
		"scanner@example.com":       "", // in no group
	} {
		if uids[email] != want {
			t.Errorf("UID of %s = %q, want %q", email, uids[email], want)
		}
	}
	if diff := cmp.Diff(privileges(st, userID(t, st, "thomas.becker@example.com")),
		[]string{"admin/mapped", "export/mapped", "login/default", "read-own-archive/default"}); diff != "" {
		t.Errorf("privileges of thomas.becker (-got +want):\n%s", diff)
	}

	// An immediate re-run finds nothing to do, and still records the run.
	again := syncDemo(t, db)
	if !again.Plan.Empty() {
		var b strings.Builder
		planfmt.Write(&b, again.Plan)
		t.Errorf("re-run plan is not empty:\n%s", b.String())
	}
	if !again.Applied || again.RunID == res.RunID {
		t.Errorf("re-run: applied %v, run %d (first run %d)", again.Applied, again.RunID, res.RunID)
	}
	st2, runs2 := contents(t, db)
	if diff := cmp.Diff(st2, st, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(store.User{}, "UpdatedAt")); diff != "" {
		t.Errorf("re-run changed the store (-got +want):\n%s", diff)
	}
	if len(runs2) != 2 {
		t.Errorf("%d runs recorded, want 2", len(runs2))
	}
}

func TestIntegrationDryRunWritesNothing(t *testing.T) {
	db := openStore(t)
	syncDemo(t, db)
	// Change the store's view of things so that the dry run has a plan.
	st, _ := contents(t, db)
	if err := db.RevokeAdmin(context.Background(), userID(t, st, "hannah.schmidt@example.com"), "admin"); err != nil {
		t.Fatal(err)
	}
	before, runsBefore := contents(t, db)

	for _, force := range []bool{false, true} {
		e := New(dirfile.New(demoFile), db, demoOptions, nil)
		res, err := e.Run(context.Background(), RunOptions{DryRun: true, Force: force})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied || res.RunID != 0 {
			t.Errorf("dry run: applied %v, run %d; want false, 0", res.Applied, res.RunID)
		}
		want := []store.GrantChange{grant(store.ActionAdd, userID(t, st, "hannah.schmidt@example.com"), "hannah.schmidt@example.com",
			"admin", store.GrantMapped, "archive-admins@example.com", "member of archive-admins@example.com")}
		if diff := cmp.Diff(res.Plan, &store.Plan{Grants: want}, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("dry-run plan (-got +want):\n%s", diff)
		}
	}
	// A dry run the guard refuses writes nothing either.
	noFilter := demoOptions
	noFilter.Filter = Filter{}
	e := New(&snapSource{snap: &store.Snapshot{}}, db, noFilter, nil)
	if _, err := e.Run(context.Background(), RunOptions{DryRun: true}); !errors.Is(err, ErrTooManyDeletes) {
		t.Errorf("dry run deleting everyone: error %v, want ErrTooManyDeletes", err)
	}
	// Nor does a failing source.
	e = New(&snapSource{err: errors.New("unreachable")}, db, demoOptions, nil)
	if _, err := e.Run(context.Background(), RunOptions{DryRun: true}); err == nil {
		t.Errorf("dry run with a failing source succeeded")
	}

	after, runsAfter := contents(t, db)
	if diff := cmp.Diff(after, before); diff != "" {
		t.Errorf("dry runs changed the state (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(runsAfter, runsBefore); diff != "" {
		t.Errorf("dry runs recorded runs (-got +want):\n%s", diff)
	}
}

func TestIntegrationFailuresWriteOnlyARunRecord(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		src     Source
		opts    Options
		force   bool
		wantErr string
	}{
		{
			name:    "source fails",
			src:     dirfile.New(filepath.Join(t.TempDir(), "missing.json")),
			opts:    demoOptions,
			wantErr: "fetch from file:",
		},
		{
			name:    "filter group missing",
			src:     dirfile.New(demoFile),
			opts:    func() Options { o := demoOptions; o.Filter.Groups = []string{"archive-user@example.com"}; return o }(),
			wantErr: "filter: filter group archive-user@example.com: no such group in the source",
		},
		{
			name:    "guard refuses",
			src:     &snapSource{snap: &store.Snapshot{}},
			opts:    func() Options { o := demoOptions; o.Filter = Filter{}; return o }(),
			wantErr: "too many user deletions: the plan deletes 45 of 45 directory users",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openStore(t)
			syncDemo(t, db)
			before, runsBefore := contents(t, db)

			e := New(tt.src, db, tt.opts, nil)
			e.Now = func() time.Time { return now }
			res, err := e.Run(context.Background(), RunOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run() error = %v, want it to contain %q", err, tt.wantErr)
			}
			after, runsAfter := contents(t, db)
			if diff := cmp.Diff(after, before); diff != "" {
				t.Errorf("failed run changed the state (-got +want):\n%s", diff)
			}
			if len(runsAfter) != len(runsBefore)+1 {
				t.Fatalf("%d runs after, %d before; want one more", len(runsAfter), len(runsBefore))
			}
			got := runsAfter[0] // newest first
			want := store.SyncRun{ID: got.ID, StartedAt: now, FinishedAt: now, Source: tt.src.Name(), Kind: store.RunFull, Error: err.Error()}
			// The phases are real time, not the engine's clock.
			if diff := cmp.Diff(got, want, cmpopts.IgnoreFields(store.SyncRun{}, "Phases")); diff != "" {
				t.Errorf("run record (-got +want):\n%s", diff)
			}
			if res != nil && res.RunID != got.ID {
				t.Errorf("Result.RunID = %d, want %d", res.RunID, got.ID)
			}
		})
	}
}

func TestIntegrationRevokedDefaultsStayRevoked(t *testing.T) {
	db := openStore(t)
	syncDemo(t, db)
	st, _ := contents(t, db)
	alice := userID(t, st, "alice@example.com")
	thomas := userID(t, st, "thomas.becker@example.com")
	ctx := context.Background()
	for _, r := range []struct{ user, priv string }{{alice, "login"}, {thomas, "read-own-archive"}, {thomas, "admin"}} {
		if err := db.RevokeAdmin(ctx, r.user, r.priv); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.GrantAdmin(ctx, alice, "export"); err != nil {
		t.Fatal(err)
	}

	res := syncDemo(t, db)
	// The mapped grant comes back while the rule holds; the default ones do
	// not, and the administrator's grant stays.
	want := &store.Plan{Grants: []store.GrantChange{grant(store.ActionAdd, thomas, "thomas.becker@example.com",
		"admin", store.GrantMapped, "archive-admins@example.com", "member of archive-admins@example.com")}}
	if diff := cmp.Diff(res.Plan, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("plan after revocations (-got +want):\n%s", diff)
	}
	st, _ = contents(t, db)
	if diff := cmp.Diff(privileges(st, alice), []string{"export/admin", "read-own-archive/default"}); diff != "" {
		t.Errorf("alice's privileges (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(privileges(st, thomas), []string{"admin/mapped", "export/mapped", "login/default"}); diff != "" {
		t.Errorf("thomas's privileges (-got +want):\n%s", diff)
	}
}

func TestIntegrationLocalUsers(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	// A local user holding the UID "alice" before the first sync.
	if err := db.PutLocalUser(ctx, store.User{ID: "local-1", UID: "alice", PrimaryEmail: "alice@archive.example.com"}); err != nil {
		t.Fatal(err)
	}
	res := syncDemo(t, db)
	if res.Counts.UsersDeleted != 0 {
		t.Errorf("sync deleted %d users", res.Counts.UsersDeleted)
	}
	st, _ := contents(t, db)
	uids := make(map[string]string)
	for _, u := range st.Users {
		uids[u.PrimaryEmail] = u.UID
	}
	want := map[string]string{"alice@archive.example.com": "alice", "alice@example.com": "alice.example-com", "alice@example.org": "alice.example-org"}
	for email, uid := range want {
		if uids[email] != uid {
			t.Errorf("UID of %s = %q, want %q", email, uids[email], uid)
		}
	}
	// A source without any users deletes all directory users (forced), never the local one.
	e := New(&snapSource{snap: &store.Snapshot{}}, db, Options{DeleteUsers: true}, nil)
	if _, err := e.Run(ctx, RunOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	st, _ = contents(t, db)
	if len(st.Users) != 1 || st.Users[0].ID != "local-1" || len(st.Groups) != 0 {
		t.Errorf("after emptying the source the store holds %d users (%v), %d groups; want only local-1", len(st.Users), st.Users, len(st.Groups))
	}
}
