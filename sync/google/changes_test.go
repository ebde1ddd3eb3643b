package google_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

// clock is the time of the fake and of the source, moved by the test.
// It starts at the real time: the fake checks the token's iat against it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// incremental is a source with incremental sync on, a store fully synced
// from the fixture, and the fake's and source's clock.
type incremental struct {
	f     *fixture
	clk   *clock
	src   *google.Source
	db    *store.DB
	opts  engine.Options
	steps []*engine.Result // of the last poll's steps
}

func newIncremental(t *testing.T, opts engine.Options, setup ...func(*fixture)) *incremental {
	t.Helper()
	f := newFixture(t)
	for _, s := range setup {
		s(f)
	}
	clk := newClock()
	f.srv.SetNow(clk.Now)
	f.cfg.Now = clk.Now
	f.cfg.Changes = true
	// The fixture's own events, long before the full sync, are not polled
	// (the clock moves past the margin for clock skew).
	clk.Add(2 * time.Minute)
	in := &incremental{f: f, clk: clk, src: google.New(f.cfg), db: openStore(t), opts: opts}
	mustSync(t, in.src, in.db, opts)
	in.src.SyncApplied()
	clk.Add(time.Second)
	return in
}

// poll polls the admin events once and applies the steps; it returns the
// number of new events (0: nothing new).
func (in *incremental) poll(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	in.steps = nil
	ch, err := in.src.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ch == nil {
		return 0
	}
	e := engine.New(in.src, in.db, in.opts, nil)
	for _, step := range ch.Steps {
		res, err := e.RunDelta(ctx, step, engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		in.steps = append(in.steps, res)
	}
	ch.Done()
	return ch.Events
}

// applied returns the counts of the last poll's steps together.
func (in *incremental) applied() store.Counts {
	var c store.Counts
	for _, r := range in.steps {
		c.UsersAdded += r.Counts.UsersAdded
		c.UsersUpdated += r.Counts.UsersUpdated
		c.UsersDeleted += r.Counts.UsersDeleted
		c.GroupsAdded += r.Counts.GroupsAdded
		c.GroupsUpdated += r.Counts.GroupsUpdated
		c.GroupsDeleted += r.Counts.GroupsDeleted
		c.MembersAdded += r.Counts.MembersAdded
		c.MembersDeleted += r.Counts.MembersDeleted
		c.GrantsAdded += r.Counts.GrantsAdded
		c.GrantsDeleted += r.Counts.GrantsDeleted
	}
	return c
}

// reconciled fails unless a full sync now finds nothing to change: the
// incremental sync left the store as the full one would.
func (in *incremental) reconciled(t *testing.T) {
	t.Helper()
	res, err := engine.New(in.f.source(), in.db, in.opts, nil).Run(context.Background(), engine.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() {
		var b strings.Builder
		planfmt.Write(&b, res.Plan)
		t.Errorf("a full sync after the incremental one still plans %+v:\n%s", res.Counts, b.String())
	}
}

// Every kind of admin event ldapgate follows, one after the other: each
// is applied by the incremental sync, with calls only for what it touches,
// and leaves nothing for the full sync to do.
func TestChangesEveryEventKind(t *testing.T) {
	in := newIncremental(t, syncOptions)
	srv := in.f.srv
	user := func(id string, mod func(u *admin.User)) func() {
		return func() { u := srv.User(id); mod(u); srv.PutUser(u) }
	}
	for _, tc := range []struct {
		name   string
		change func()
		events []string // as Google names them
		check  func(t *testing.T, st *store.State)
	}{
		{"suspend", user("u2", func(u *admin.User) { u.Suspended = true }), []string{"SUSPEND_USER"},
			func(t *testing.T, st *store.State) {
				if findUser(st, "bob@example.com") != nil {
					t.Error("suspended bob is still in the store (filter.include_suspended is false)")
				}
			}},
		{"unsuspend", user("u2", func(u *admin.User) { u.Suspended = false }), []string{"UNSUSPEND_USER"},
			func(t *testing.T, st *store.State) {
				if findUser(st, "bob@example.com") == nil {
					t.Error("unsuspended bob is not back")
				}
				if got := memberIDs(st, "staff@example.com"); !slices.Contains(got, "user:u2") {
					t.Errorf("staff members = %v, want bob back among them", got)
				}
			}},
		{"archive", user("u2", func(u *admin.User) { u.Archived = true }), []string{"ARCHIVE_USER"},
			func(t *testing.T, st *store.State) {
				if findUser(st, "bob@example.com") != nil {
					t.Error("archived bob is still in the store")
				}
			}},
		{"unarchive", user("u2", func(u *admin.User) { u.Archived = false }), []string{"UNARCHIVE_USER"}, nil},
		{"rename", user("u2", func(u *admin.User) { u.PrimaryEmail = "robert@example.com"; u.Aliases = []string{"bob@example.com"} }),
			[]string{"RENAME_USER", "ADD_NICKNAME"},
			func(t *testing.T, st *store.State) {
				u := findUser(st, "robert@example.com")
				if u == nil || u.ID != "u2" || u.UID != "robert" || !slices.Contains(u.Aliases, "bob@example.com") {
					t.Errorf("renamed user = %+v", u)
				}
			}},
		{"remove alias", user("u2", func(u *admin.User) { u.Aliases = nil }), []string{"REMOVE_NICKNAME"}, nil},
		{"first name", user("u2", func(u *admin.User) { u.Name.GivenName = "Rob" }), []string{"CHANGE_FIRST_NAME"}, nil},
		{"move org unit", user("u2", func(u *admin.User) { u.OrgUnitPath = "/Sales" }), []string{"MOVE_USER_TO_ORG_UNIT"},
			func(t *testing.T, st *store.State) {
				if u := findUser(st, "robert@example.com"); u == nil || u.OrgUnitPath != "/Sales" {
					t.Errorf("moved user = %+v", u)
				}
			}},
		{"create user", func() {
			srv.PutUser(&admin.User{Id: "u9", PrimaryEmail: "nina@example.com", Name: &admin.UserName{GivenName: "Nina", FamilyName: "Nash"}, OrgUnitPath: "/"})
		}, []string{"CREATE_USER"},
			func(t *testing.T, st *store.State) {
				if findUser(st, "nina@example.com") == nil {
					t.Error("new user nina not added")
				}
			}},
		{"add member", func() {
			srv.SetMembers("g3", mem("USER", "u1", "alice@example.com"), mem("USER", "u9", "nina@example.com"))
		}, []string{"ADD_GROUP_MEMBER"},
			func(t *testing.T, st *store.State) {
				if !slices.ContainsFunc(st.Grants, func(g store.Grant) bool { return g.UserID == "u9" && g.Privilege == "admin" }) {
					t.Error("nina, added to the admin rule's group, has no admin grant")
				}
			}},
		{"remove member", func() { srv.SetMembers("g3", mem("USER", "u1", "alice@example.com")) }, []string{"REMOVE_GROUP_MEMBER"},
			func(t *testing.T, st *store.State) {
				if slices.ContainsFunc(st.Grants, func(g store.Grant) bool { return g.UserID == "u9" && g.Privilege == "admin" }) {
					t.Error("nina, removed from the admin rule's group, keeps the admin grant")
				}
			}},
		{"delete user", func() { srv.DeleteUser("u9") }, []string{"DELETE_USER"},
			func(t *testing.T, st *store.State) {
				if findUser(st, "nina@example.com") != nil {
					t.Error("deleted nina is still in the store")
				}
			}},
		{"create group", func() {
			srv.PutGroup(&admin.Group{Id: "g7", Email: "new@example.com", Name: "New"})
			srv.SetMembers("g7", mem("USER", "u1", "alice@example.com"))
		}, []string{"CREATE_GROUP", "ADD_GROUP_MEMBER"},
			func(t *testing.T, st *store.State) {
				if got := memberIDs(st, "new@example.com"); !slices.Equal(got, []string{"user:u1"}) {
					t.Errorf("new group's members = %v", got)
				}
			}},
		{"nest group", func() {
			srv.PutGroup(&admin.Group{Id: "g8", Email: "inner@example.com", Name: "Inner"})
			srv.SetMembers("g8", mem("USER", "u5", "alice@example.org"))
			srv.SetMembers("g7", mem("USER", "u1", "alice@example.com"), mem("GROUP", "g8", "inner@example.com"))
		}, []string{"CREATE_GROUP", "ADD_GROUP_MEMBER", "ADD_GROUP_MEMBER"}, nil},
		{"change group email", func() {
			g := &admin.Group{Id: "g7", Email: "newer@example.com", Name: "New"}
			srv.PutGroup(g)
		}, []string{"CHANGE_GROUP_EMAIL"},
			func(t *testing.T, st *store.State) {
				if findGroup(st, "newer@example.com") == nil {
					t.Error("group not renamed")
				}
			}},
		{"delete group", func() { srv.DeleteGroup("g7") }, []string{"DELETE_GROUP"},
			func(t *testing.T, st *store.State) {
				if findGroup(st, "newer@example.com") != nil {
					t.Error("deleted group is still in the store")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.EventNames())
			srv.ResetCounts()
			tc.change()
			if got := srv.EventNames()[before:]; !slices.Equal(got, tc.events) {
				t.Fatalf("the fake recorded %v, want %v", got, tc.events)
			}
			in.clk.Add(time.Second)
			if n := in.poll(t); n != len(tc.events) {
				t.Errorf("poll saw %d new events, want %d", n, len(tc.events))
			}
			if c := in.applied(); c == (store.Counts{}) {
				t.Error("the incremental sync applied nothing")
			}
			for _, r := range in.steps {
				if r.RunID != 0 {
					run, err := in.db.SyncRun(context.Background(), r.RunID)
					if err != nil || run.Kind != store.RunIncremental {
						t.Errorf("run %d: kind %q, err %v; want incremental", r.RunID, run.Kind, err)
					}
				}
			}
			calls := srv.Calls()
			if calls["users.list"]+calls["groups.list"] > 2 || calls["users.list"] > 0 {
				t.Errorf("calls = %v: a listing of the whole directory", calls)
			}
			if tc.check != nil {
				tc.check(t, loadState(t, in.db))
			}
			in.reconciled(t)
		})
	}
}

// Google reports events late; the same event may come twice; events may
// come out of order; many events come in pages. Each poll must still
// apply what Google has now, once.
func TestChangesLagDuplicatesOrderPaging(t *testing.T) {
	in := newIncremental(t, syncOptions)
	srv := in.f.srv
	srv.SetReportLag(3 * time.Minute)

	// Nothing new: one call a poll.
	srv.ResetCounts()
	if n := in.poll(t); n != 0 {
		t.Fatalf("first poll: %d new events, want 0", n)
	}
	in.clk.Add(time.Minute)
	if n := in.poll(t); n != 0 {
		t.Fatalf("second poll: %d new events, want 0", n)
	}
	if c := srv.Calls(); c["activities.list"] != 2 || srv.APICalls() != 2 || c["token"] > 1 {
		t.Errorf("two polls without changes made calls %v, want 2 activities.list and at most one token", c)
	}

	// The lag: not seen at the next poll, seen when reported.
	u := srv.User("u2")
	u.Suspended = true
	srv.PutUser(u)
	in.clk.Add(time.Minute)
	if n := in.poll(t); n != 0 {
		t.Errorf("poll 1 min after the suspension, 3 min lag: %d events", n)
	}
	in.clk.Add(3 * time.Minute)
	if n := in.poll(t); n != 1 {
		t.Errorf("poll after the lag: %d events, want 1", n)
	}
	if findUser(loadState(t, in.db), "bob@example.com") != nil {
		t.Error("bob's suspension, reported late, was missed")
	}
	// Seen again in the overlap of the next polls: not applied again.
	in.clk.Add(time.Minute)
	if n := in.poll(t); n != 0 {
		t.Errorf("poll within the overlap: %d events again", n)
	}

	// Out of order and duplicated: UNSUSPEND reported with an earlier time
	// than SUSPEND (Google has bob enabled), and reported twice.
	srv.SetReportLag(0)
	srv.SetAuditing(false)
	u.Suspended = false
	srv.PutUser(u)
	srv.SetAuditing(true)
	now := in.clk.Now()
	id := srv.AddEvent(googletest.Event{Type: "USER_SETTINGS", Name: "UNSUSPEND_USER", Params: map[string]string{"USER_EMAIL": "bob@example.com"}, At: now.Add(-2 * time.Second)})
	srv.AddEvent(googletest.Event{Type: "USER_SETTINGS", Name: "UNSUSPEND_USER", Params: map[string]string{"USER_EMAIL": "bob@example.com"}, At: now.Add(-2 * time.Second), ID: id})
	srv.AddEvent(googletest.Event{Type: "USER_SETTINGS", Name: "SUSPEND_USER", Params: map[string]string{"USER_EMAIL": "bob@example.com"}, At: now.Add(-time.Second)})
	in.clk.Add(time.Second)
	srv.ResetCounts()
	if n := in.poll(t); n != 2 {
		t.Errorf("poll: %d new events, want 2 (one duplicate)", n)
	}
	if b := findUser(loadState(t, in.db), "bob@example.com"); b == nil || b.Suspended {
		t.Errorf("bob = %+v; Google has him enabled, whatever the order of the events", b)
	}
	if got := srv.Calls()["users.get"]; got != 1 {
		t.Errorf("users.get calls = %d, want 1 (bob, once for both events)", got)
	}
	in.reconciled(t)

	// Paging: 1,500 events of no interest and a suspension, 2 pages.
	for i := range 1500 {
		srv.AddEvent(googletest.Event{Type: "USER_SETTINGS", Name: "CHANGE_PASSWORD", Params: map[string]string{"USER_EMAIL": fmt.Sprintf("user%04d@example.com", i)}})
	}
	u = srv.User("x0001")
	u.Suspended = true
	srv.PutUser(u)
	in.clk.Add(time.Second)
	srv.ResetCounts()
	if n := in.poll(t); n != 1501 {
		t.Errorf("poll: %d new events, want 1501", n)
	}
	if got := srv.Calls()["activities.list"]; got != 2 {
		t.Errorf("activities.list calls = %d, want 2 pages", got)
	}
	if findUser(loadState(t, in.db), "user0001@example.com") != nil {
		t.Error("the suspension on the second page was missed")
	}
	in.reconciled(t)
}

// Events lost (Google never reported them): the incremental sync cannot
// know, the next full sync heals it.
func TestChangesGapHealedByFullSync(t *testing.T) {
	in := newIncremental(t, syncOptions)
	srv := in.f.srv
	srv.SetAuditing(false)
	u := srv.User("u2")
	u.Suspended = true
	srv.PutUser(u)
	in.clk.Add(time.Minute)
	if n := in.poll(t); n != 0 {
		t.Fatalf("poll saw %d events of a change not reported", n)
	}
	if findUser(loadState(t, in.db), "bob@example.com") == nil {
		t.Fatal("bob left without an event")
	}
	mustSync(t, in.src, in.db, in.opts)
	in.src.SyncApplied()
	if findUser(loadState(t, in.db), "bob@example.com") != nil {
		t.Error("the full sync did not heal the gap: suspended bob still in the store")
	}
}

// A failed step leaves its events for the next poll.
func TestChangesFailedStepRetried(t *testing.T) {
	in := newIncremental(t, syncOptions)
	srv := in.f.srv
	u := srv.User("u2")
	u.Suspended = true
	srv.PutUser(u)
	in.clk.Add(time.Second)
	f := srv.Inject(googletest.Fault{Call: "users.get", Status: 403, Reason: "forbidden"})
	ctx := context.Background()
	ch, err := in.src.Changes(ctx)
	if err != nil || ch == nil {
		t.Fatalf("Changes = %v, %v", ch, err)
	}
	if _, err := engine.New(in.src, in.db, in.opts, nil).RunDelta(ctx, ch.Steps[0], engine.RunOptions{}); err == nil {
		t.Fatal("step with users.get failing succeeded")
	}
	if f.Hits(srv) == 0 {
		t.Fatal("fault not hit")
	}
	runs, _ := in.db.SyncRuns(ctx, 1)
	if len(runs) != 1 || runs[0].Kind != store.RunIncremental || !strings.Contains(runs[0].Error, "users.get") {
		t.Errorf("last run = %+v, want a failed incremental run", runs)
	}
	srv.ClearFaults()
	in.clk.Add(time.Minute)
	if n := in.poll(t); n != 1 {
		t.Errorf("next poll: %d events, want the failed one again", n)
	}
	if findUser(loadState(t, in.db), "bob@example.com") != nil {
		t.Error("bob's suspension not applied on the next poll")
	}
}

// With a group and an org unit filter, events move users into and out of
// the scope: a user added to the filter group comes in with its other
// memberships, one removed or moved out of the org units goes.
func TestChangesFilteredScope(t *testing.T) {
	opts := syncOptions
	opts.Filter = engine.Filter{Groups: []string{"staff@example.com"}, OrgUnits: []string{"/Staff", "/Sales"}}
	in := newIncremental(t, opts, func(f *fixture) {
		f.cfg.Groups = opts.Filter.Groups
		f.cfg.RuleGroups = []string{"archive-admins@example.com"}
		f.srv.AddOrgUnit("/Staff")
		for _, id := range []string{"u1", "x0001"} {
			u := f.srv.User(id)
			u.OrgUnitPath = "/Staff"
			f.srv.PutUser(u)
		}
	})
	srv := in.f.srv
	if findUser(loadState(t, in.db), "user0001@example.com") != nil {
		t.Fatal("user0001 in scope before it joined staff")
	}
	// user0001 is also in big@example.com, out of scope (not nested in
	// staff), and joins the admin rule's group first.
	srv.SetMembers("g3", mem("USER", "u1", "alice@example.com"), mem("USER", "x0001", "user0001@example.com"))
	in.clk.Add(time.Second)
	in.poll(t)
	if findUser(loadState(t, in.db), "user0001@example.com") != nil {
		t.Error("user0001 came into scope by joining a rule group only")
	}
	in.reconciled(t)
	srv.SetMembers("g1", mem("USER", "u1", "alice@example.com"), mem("USER", "u2", "bob@example.com"),
		mem("GROUP", "g2", "eng@example.com"), mem("USER", "x0001", "user0001@example.com"))
	in.clk.Add(time.Second)
	srv.ResetCounts()
	in.poll(t)
	st := loadState(t, in.db)
	if findUser(st, "user0001@example.com") == nil {
		t.Fatal("user0001, added to staff, not in scope")
	}
	if !slices.ContainsFunc(st.Grants, func(g store.Grant) bool { return g.UserID == "x0001" && g.Privilege == "admin" }) {
		t.Error("user0001 came in without the admin grant of its earlier membership")
	}
	if c := srv.Calls(); c["users.get"] != 1 || c["groups.list"] != 1 || c["members.list"] != 1 {
		t.Errorf("calls = %v, want users.get, its groups and staff's members once each", c)
	}
	in.reconciled(t)

	// Moved out of the org units: out of scope.
	u := srv.User("x0001")
	u.OrgUnitPath = "/"
	srv.PutUser(u)
	in.clk.Add(time.Second)
	in.poll(t)
	if findUser(loadState(t, in.db), "user0001@example.com") != nil {
		t.Error("user0001, moved out of the org units, still in scope")
	}
	in.reconciled(t)

	// Back, then removed from staff: out of scope.
	u.OrgUnitPath = "/Staff"
	srv.PutUser(u)
	in.clk.Add(time.Second)
	in.poll(t)
	if findUser(loadState(t, in.db), "user0001@example.com") == nil {
		t.Error("user0001, moved back, not in scope")
	}
	srv.SetMembers("g1", mem("USER", "u1", "alice@example.com"), mem("USER", "u2", "bob@example.com"), mem("GROUP", "g2", "eng@example.com"))
	in.clk.Add(time.Second)
	in.poll(t)
	if findUser(loadState(t, in.db), "user0001@example.com") != nil {
		t.Error("user0001, removed from staff, still in scope")
	}
	in.reconciled(t)
}
