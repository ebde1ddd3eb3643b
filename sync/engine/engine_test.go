package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/planfmt"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// tenUsers returns a state of ten directory users u0..u9 and one local
// user, and a snapshot holding the first keep of the directory users.
func tenUsers(keep int) (*store.State, *store.Snapshot) {
	st := &store.State{}
	snap := &store.Snapshot{}
	for i := range 10 {
		u := usr(fmt.Sprint("u", i), fmt.Sprintf("user%d@example.com", i), withUID(fmt.Sprint("user", i)))
		st.Users = append(st.Users, u)
		if i < keep {
			u.UID = ""
			snap.Users = append(snap.Users, u)
		}
	}
	st.Users = append(st.Users, usr("L", "local@example.com", local, withUID("local")))
	return st, snap
}

func TestGuard(t *testing.T) {
	tests := []struct {
		name    string
		keep    int // of 10 directory users
		max     float64
		wantErr string
	}{
		{name: "no deletes", keep: 10, max: 0},
		{name: "under the limit", keep: 9, max: 15},
		{name: "at the limit", keep: 9, max: 10},
		{name: "over the limit", keep: 8, max: 10, wantErr: "the plan deletes 2 of 10 directory users (20.0%, limit 10%); use --force"},
		{name: "zero limit", keep: 9, max: 0, wantErr: "the plan deletes 1 of 10 directory users (10.0%, limit 0%)"},
		{name: "everyone", keep: 0, max: 99.5, wantErr: "deletes 10 of 10"},
		{name: "everyone allowed", keep: 0, max: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, snap := tenUsers(tt.keep)
			p, _ := plan(t, st, snap, Options{DeleteUsers: true})
			if got, want := p.Counts().UsersDeleted, 10-tt.keep; got != want {
				t.Fatalf("plan deletes %d users, want %d", got, want)
			}
			err := Guard(st, p, tt.max)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Guard() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrTooManyDeletes) {
				t.Errorf("Guard() = %v, want ErrTooManyDeletes", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Guard() = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	t.Run("no directory users", func(t *testing.T) {
		st := &store.State{Users: []store.User{usr("L", "local@example.com", local)}}
		p := &store.Plan{Users: []store.UserChange{{Action: store.ActionDelete}}}
		if err := Guard(st, p, 0); err != nil {
			t.Errorf("Guard() = %v, want nil", err)
		}
	})
}

func TestRun(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{DeleteUsers: true, MaxDeletePercent: 10, DefaultPrivileges: []string{"login"}}
	tests := []struct {
		name        string
		keep        int
		src         *snapSource // nil: the first keep users
		loadErr     error
		run         RunOptions
		wantErr     error  // errors.Is
		wantErrText string // substring
		wantApplied bool
		wantRuns    []store.SyncRun // IDs, times and plans not compared
		wantDeleted int             // users deleted from the store
	}{
		{
			name:        "under the limit: applied",
			keep:        10,
			wantApplied: true,
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull}},
		},
		{
			name:        "guard refuses",
			keep:        5,
			wantErr:     ErrTooManyDeletes,
			wantErrText: "deletes 5 of 10",
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Error: "too many user deletions: the plan deletes 5 of 10 directory users (50.0%, limit 10%); use --force if that is intended"}},
		},
		{
			name:        "guard refuses a dry run too, writing nothing",
			keep:        5,
			run:         RunOptions{DryRun: true},
			wantErr:     ErrTooManyDeletes,
			wantErrText: "deletes 5 of 10",
		},
		{
			name:        "force",
			keep:        5,
			run:         RunOptions{Force: true},
			wantApplied: true,
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Forced: true, Counts: store.Counts{UsersDeleted: 5}}},
			wantDeleted: 5,
		},
		{
			name:        "force up to the confirmed number",
			keep:        5,
			run:         RunOptions{Force: true, ForceUpTo: 5},
			wantApplied: true,
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Forced: true, Counts: store.Counts{UsersDeleted: 5}}},
			wantDeleted: 5,
		},
		{
			name:        "force refused: more deletions than confirmed",
			keep:        5,
			run:         RunOptions{Force: true, ForceUpTo: 4},
			wantErr:     ErrTooManyDeletes,
			wantErrText: "the 4 deletions confirmed do not cover them",
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Error: "too many user deletions: the plan deletes 5 of 10 directory users (50.0%, limit 10%); use --force if that is intended; the 4 deletions confirmed do not cover them"}},
		},
		{
			name: "dry run",
			keep: 9,
			run:  RunOptions{DryRun: true, Force: true},
		},
		{
			name:        "source fails",
			src:         &snapSource{err: errors.New("connection refused")},
			wantErrText: "fetch from test: connection refused",
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Error: "fetch from test: connection refused"}},
		},
		{
			name:        "source fails in a dry run",
			src:         &snapSource{err: errors.New("connection refused")},
			run:         RunOptions{DryRun: true},
			wantErrText: "fetch from test: connection refused",
		},
		{
			name:        "filter fails",
			src:         &snapSource{snap: &store.Snapshot{}},
			wantErrText: "filter: filter group nope@example.com: no such group",
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Error: "filter: filter group nope@example.com: no such group in the source"}},
		},
		{
			name:        "store fails",
			keep:        10,
			loadErr:     errors.New("disk on fire"),
			wantErrText: "load state: disk on fire",
			wantRuns:    []store.SyncRun{{Source: "test", Kind: store.RunFull, Error: "load state: disk on fire"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, snap := tenUsers(tt.keep)
			src := tt.src
			if src == nil {
				src = &snapSource{snap: snap}
			}
			o := opts
			if tt.name == "filter fails" {
				o.Filter.Groups = []string{"nope@example.com"}
			}
			ms := &memStore{t: t, state: st, loadErr: tt.loadErr}
			e := New(src, ms, o, nil)
			e.Now = func() time.Time { return now }
			res, err := e.Run(context.Background(), tt.run)

			switch {
			case tt.wantErr == nil && tt.wantErrText == "":
				if err != nil {
					t.Fatalf("Run() error = %v", err)
				}
			case err == nil:
				t.Fatalf("Run() succeeded, want an error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Run() error = %v, want %v", err, tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErrText):
				t.Errorf("Run() error = %v, want it to contain %q", err, tt.wantErrText)
			}
			if res != nil && res.Applied != tt.wantApplied {
				t.Errorf("Applied = %v, want %v", res.Applied, tt.wantApplied)
			}
			if res == nil && tt.wantApplied {
				t.Errorf("Run() returned no result")
			}
			wantApplies := 0
			if tt.wantApplied {
				wantApplies = 1
				if res.RunID != 1 {
					t.Errorf("RunID = %d, want 1", res.RunID)
				}
			}
			if ms.applied != wantApplies {
				t.Errorf("store applied %d plans, want %d", ms.applied, wantApplies)
			}
			var runs []store.SyncRun
			for _, r := range ms.runs {
				if !r.StartedAt.Equal(now) || !r.FinishedAt.Equal(now) {
					t.Errorf("run times %v..%v, want %v", r.StartedAt, r.FinishedAt, now)
				}
				r.ID, r.StartedAt, r.FinishedAt, r.Plan = 0, time.Time{}, time.Time{}, nil
				runs = append(runs, r)
			}
			if diff := cmp.Diff(runs, tt.wantRuns); diff != "" {
				t.Errorf("runs recorded (-got +want):\n%s", diff)
			}
			if got := 11 - len(ms.state.Users); got != tt.wantDeleted {
				t.Errorf("store lost %d users, want %d", got, tt.wantDeleted)
			}
		})
	}
}

func TestRunResult(t *testing.T) {
	st, snap := tenUsers(9)
	snap.Users = append(snap.Users, usr("new", "new@example.com"), usr("s", "susp@example.com", suspended))
	ms := &memStore{t: t, state: st}
	e := New(&snapSource{snap: snap}, ms, Options{DeleteUsers: false, DefaultPrivileges: []string{"login"}}, nil)
	res, err := e.Run(context.Background(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{
		Plan: &store.Plan{
			Users:  []store.UserChange{addU(usr("new", "new@example.com"), "new")},
			Grants: []store.GrantChange{grant(store.ActionAdd, "new", "new@example.com", "login", store.GrantDefault, "", ReasonDefault)},
		},
		Counts:   store.Counts{UsersAdded: 1, GrantsAdded: 1},
		RunID:    1,
		Applied:  true,
		Filter:   store.FilterStats{UsersFetched: 11, UsersInScope: 10, ExcludedSuspended: 1},
		Warnings: []string{"sync.delete_users is false: keeping 1 user(s) that are gone from the source or out of scope: user9@example.com"},
	}
	if diff := cmp.Diff(res, want); diff != "" {
		t.Errorf("Run() (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(ms.runs[0].Plan, want.Plan); diff != "" {
		t.Errorf("recorded plan (-got +want):\n%s", diff)
	}

	// An empty plan is still applied, so the run is recorded.
	res, err = e.Run(context.Background(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() || !res.Applied || res.RunID != 2 || ms.applied != 2 {
		t.Errorf("re-run: plan empty %v, applied %v, run %d, store applied %d; want true, true, 2, 2",
			res.Plan.Empty(), res.Applied, res.RunID, ms.applied)
	}
}

// TestPlanfmtWrite and the next two test package planfmt here, with the
// engine's plan fixtures and reasons, as plans the engine makes read.
func TestPlanfmtWrite(t *testing.T) {
	p := &store.Plan{
		Users: []store.UserChange{
			addU(usr("1", "alice@example.com"), "alice"),
			revoking(updU(usr("2", "bob@example.com"), ReasonChanged, "displayName", "suspended")),
			updU(usr("5", "robert@example.com"), "renamed from rob@example.com", "primaryEmail", "uid"),
			delU(usr("3", "carol@example.com"), ReasonDeleted),
		},
		Groups: []store.GroupChange{
			addG(grp("g1", "sales@example.com"), "sales"),
			{Action: store.ActionUpdate, Group: grp("g2", "it@example.com"), Fields: []string{"description"}, Reason: ReasonChanged},
			{Action: store.ActionDelete, Group: grp("g3", "old@example.com"), Reason: ReasonDeleted},
		},
		Members: []store.MemberChange{
			memb(store.ActionAdd, "g1", "sales@example.com", mu("1"), "alice@example.com", ReasonMember),
			memb(store.ActionDelete, "g2", "it@example.com", mg("g1"), "sales@example.com", ReasonNotMember),
		},
		Grants: []store.GrantChange{
			grant(store.ActionAdd, "1", "alice@example.com", "admin", store.GrantMapped, "archive-admins@example.com", "member of archive-admins@example.com"),
			grant(store.ActionAdd, "1", "alice@example.com", "login", store.GrantDefault, "", ReasonDefault),
			grant(store.ActionDelete, "2", "bob@example.com", "export", store.GrantMapped, "archive-admins@example.com", "no longer a member of archive-admins@example.com"),
		},
	}
	want := `+ user alice@example.com (uid=alice): new in source
~ user bob@example.com: fields displayName, suspended
  app passwords of bob@example.com revoked: suspended or archived
~ user robert@example.com: fields primaryEmail, uid (renamed from rob@example.com)
- user carol@example.com: deleted in the source
+ group sales@example.com (cn=sales): new in source
~ group it@example.com: fields description
- group old@example.com: deleted in the source
+ member alice@example.com → sales@example.com
- member sales@example.com → it@example.com
+ privilege admin → alice@example.com (rule archive-admins@example.com)
+ privilege login → alice@example.com (default)
- privilege export → bob@example.com (rule archive-admins@example.com)
users: 1 to add, 2 to update, 1 to delete; groups: 1 to add, 1 to update, 1 to delete; memberships: 1 to add, 1 to remove; privileges: 2 to grant, 1 to revoke; app passwords revoked for 1 suspended or archived user(s)
`
	var b bytes.Buffer
	planfmt.Write(&b, p)
	if diff := cmp.Diff(b.String(), want); diff != "" {
		t.Errorf("planfmt.Write() (-got +want):\n%s", diff)
	}
	// ldapgate sync show prints what the sync history keeps of a plan.
	b.Reset()
	planfmt.Write(&b, store.RecordedPlan(p))
	if diff := cmp.Diff(b.String(), want); diff != "" {
		t.Errorf("planfmt.Write(RecordedPlan()) (-got +want):\n%s", diff)
	}

	b.Reset()
	planfmt.Write(&b, &store.Plan{})
	if got, want := b.String(), "no changes\n"; got != want {
		t.Errorf("planfmt.Write(empty) = %q, want %q", got, want)
	}
}

// TestPlanfmtWriteSummary: however large the plan, a few lines per kind:
// counts by action and reason (adds first, then the largest group), the
// first changes, and how many more there are.
func TestPlanfmtWriteSummary(t *testing.T) {
	p := &store.Plan{}
	for i := range 1200 {
		id := fmt.Sprint(i)
		p.Users = append(p.Users, addU(usr(id, "u"+id+"@example.com"), "u"+id))
		p.Grants = append(p.Grants, grant(store.ActionAdd, id, "u"+id+"@example.com", "login", store.GrantDefault, "", ReasonDefault))
	}
	p.Users = append(p.Users,
		delU(usr("d1", "gone@example.com"), ReasonDeleted),
		updU(usr("x1", "x1@example.com"), "renamed from y1@example.com", "primaryEmail"),
		updU(usr("x2", "x2@example.com"), ReasonChanged, "displayName"),
		updU(usr("x3", "x3@example.com"), ReasonChanged, "displayName"))
	want := `users: 1,204 changes: 1,200 to add (new in source); 2 to update (changed in the source); 1 to update (renamed from y1@example.com); 1 to delete (deleted in the source)
  + user u0@example.com (uid=u0): new in source
  + user u1@example.com (uid=u1): new in source
  … 1,202 more
privileges: 1,200 changes: 1,200 to grant (default privilege for new users)
  + privilege login → u0@example.com (default)
  + privilege login → u1@example.com (default)
  … 1,198 more
users: 1200 to add, 3 to update, 1 to delete; groups: 0 to add, 0 to update, 0 to delete; memberships: 0 to add, 0 to remove; privileges: 1200 to grant, 0 to revoke
`
	var b bytes.Buffer
	planfmt.WriteSummary(&b, p, 2)
	if diff := cmp.Diff(b.String(), want); diff != "" {
		t.Errorf("planfmt.WriteSummary() (-got +want):\n%s", diff)
	}
	b.Reset()
	planfmt.WriteSummary(&b, &store.Plan{}, 2)
	if got, want := b.String(), "no changes\n"; got != want {
		t.Errorf("planfmt.WriteSummary(empty) = %q, want %q", got, want)
	}
}

// TestPlanfmtPage: the plan's lines filtered by kind and by a part of an
// address, one page at a time.
func TestPlanfmtPage(t *testing.T) {
	p := &store.Plan{
		Users: []store.UserChange{addU(usr("1", "alice@example.com"), "alice"), addU(usr("2", "bob@example.com"), "bob")},
		Members: []store.MemberChange{
			memb(store.ActionAdd, "g1", "sales@example.com", mu("1"), "alice@example.com", ReasonMember),
			memb(store.ActionAdd, "g1", "sales@example.com", mu("2"), "bob@example.com", ReasonMember),
		},
		Grants: []store.GrantChange{grant(store.ActionAdd, "1", "alice@example.com", "login", store.GrantDefault, "", ReasonDefault)},
	}
	for _, tt := range []struct {
		kind, who     string
		offset, limit int
		want          []string
		total         int
	}{
		{"", "", 0, 2, []string{"+ user alice@example.com (uid=alice): new in source", "+ user bob@example.com (uid=bob): new in source"}, 5},
		{"", "", 4, 2, []string{"+ privilege login → alice@example.com (default)"}, 5},
		{"", "ALICE", 0, 10, []string{"+ user alice@example.com (uid=alice): new in source", "+ member alice@example.com → sales@example.com", "+ privilege login → alice@example.com (default)"}, 3},
		{"memberships", "bob", 0, 10, []string{"+ member bob@example.com → sales@example.com"}, 1},
		{"groups", "", 0, 10, nil, 0},
	} {
		lines, total := planfmt.Page(p, tt.kind, tt.who, tt.offset, tt.limit)
		if diff := cmp.Diff(lines, tt.want); diff != "" || total != tt.total {
			t.Errorf("planfmt.Page(%q, %q, %d, %d): total %d, want %d; lines (-got +want):\n%s", tt.kind, tt.who, tt.offset, tt.limit, total, tt.total, diff)
		}
	}
}

// TestRunProgressPhases: a run's Progress moves from the fetch to the plan
// (with the users fetched) and to the apply (with the changes), so a
// display does not sit at the fetch's 100% meanwhile.
func TestRunProgressPhases(t *testing.T) {
	st, snap := tenUsers(9)
	snap.Users = append(snap.Users, usr("new", "new@example.com"))
	ms := &memStore{t: t, state: st}
	e := New(&snapSource{snap: snap}, ms, Options{DeleteUsers: false, DefaultPrivileges: []string{"login"}}, nil)
	var p progress.Progress
	if _, err := e.Run(context.Background(), RunOptions{DryRun: true, Progress: &p}); err != nil {
		t.Fatal(err)
	}
	if c := p.Load(); c.Phase != progress.PhasePlan || c.Items != 10 {
		t.Errorf("after a dry run: phase %d, items %d; want plan, the 10 users fetched", c.Phase, c.Items)
	}
	if _, err := e.Run(context.Background(), RunOptions{Progress: &p}); err != nil {
		t.Fatal(err)
	}
	if c := p.Load(); c.Phase != progress.PhaseApply || c.Items != 2 {
		t.Errorf("after a run: phase %d, items %d; want apply, 2 changes (a user and its grant)", c.Phase, c.Items)
	}
}
