package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0 = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	t1 = t0.Add(36 * time.Hour)
)

// clock is a settable time source for DB.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// openTest opens a SQLite store in a fresh directory (whose parent Open
// must create) with its clock at t0, for the tests of what only SQLite has.
func openTest(tb testing.TB) (*DB, *clock) { return backends[0].openTest(tb) }

func openPath(tb testing.TB, path string) *DB { return backends[0].openAt(tb, path) }

func mustApply(tb testing.TB, db *DB, p *Plan) int64 {
	tb.Helper()
	id, err := db.Apply(context.Background(), p, SyncRun{StartedAt: t0, FinishedAt: t0, Source: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func mustLoad(tb testing.TB, db *DB) *State {
	tb.Helper()
	st, err := db.LoadState(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func mustRuns(tb testing.TB, db *DB) []SyncRun {
	tb.Helper()
	runs, err := db.SyncRuns(context.Background(), 0)
	if err != nil {
		tb.Fatal(err)
	}
	return runs
}

// count returns the number of rows of a raw query, read through the read pool.
func count(tb testing.TB, db *DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.read.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

var (
	alice = User{
		ID: "u1", UID: "alice", PrimaryEmail: "alice@example.com", Aliases: []string{"ali@example.com", "a@example.org"},
		GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell", OrgUnitPath: "/Staff",
		SourceCreated: time.Date(2020, 1, 2, 3, 4, 5, 600, time.FixedZone("CEST", 2*3600)),
		LastLogin:     time.Date(2025, 2, 28, 8, 0, 0, 0, time.UTC),
		Origin:        OriginDirectory,
	}
	bob   = User{ID: "u2", UID: "bob", PrimaryEmail: "bob@example.com", GivenName: "Bob", Origin: OriginDirectory}
	carol = User{ID: "u3", UID: "carol", PrimaryEmail: "carol@example.com", Suspended: true, Archived: true, IsAdmin: true, Origin: OriginDirectory}
	staff = Group{ID: "g1", CN: "staff", Email: "staff@example.com", Name: "Staff", Description: "Everyone employed"}
	all   = Group{ID: "g2", CN: "all", Email: "all@example.com", Name: "All", Aliases: []string{"everyone@example.com"}}
)

func userMember(u User) Member   { return Member{Type: MemberUser, ID: u.ID, Email: u.PrimaryEmail} }
func groupMember(g Group) Member { return Member{Type: MemberGroup, ID: g.ID, Email: g.Email} }

func addMember(g Group, m Member) MemberChange {
	return MemberChange{Action: ActionAdd, GroupID: g.ID, GroupEmail: g.Email, Member: m}
}

func addGrant(u User, priv string, origin GrantOrigin, rule string) GrantChange {
	return GrantChange{Action: ActionAdd, Grant: Grant{UserID: u.ID, Privilege: priv, Origin: origin, Rule: rule}, UserEmail: u.PrimaryEmail}
}

// seedPlan adds alice, bob and carol, the groups staff and all (all holds
// staff), memberships and grants; listed out of order on purpose.
func seedPlan() *Plan {
	return &Plan{
		Users:  []UserChange{{Action: ActionAdd, User: carol}, {Action: ActionAdd, User: alice}, {Action: ActionAdd, User: bob}},
		Groups: []GroupChange{{Action: ActionAdd, Group: staff}, {Action: ActionAdd, Group: all}},
		Members: []MemberChange{
			addMember(staff, userMember(bob)), addMember(staff, userMember(alice)),
			addMember(all, userMember(carol)), addMember(all, groupMember(staff)),
		},
		Grants: []GrantChange{
			addGrant(bob, "login", GrantDefault, ""),
			addGrant(alice, "read-archive", GrantMapped, "staff@example.com"),
			addGrant(alice, "read-archive", GrantMapped, "all@example.com"),
			addGrant(alice, "login", GrantDefault, ""),
		},
	}
}

// stamped returns u or g with the store's timestamps set.
func stamped[T User | Group](v T, created, updated time.Time) T {
	switch x := any(&v).(type) {
	case *User:
		x.CreatedAt, x.UpdatedAt = created, updated
	case *Group:
		x.CreatedAt, x.UpdatedAt = created, updated
	}
	return v
}

func seedState() *State {
	return &State{
		Users:  []User{stamped(alice, t0, t0), stamped(bob, t0, t0), stamped(carol, t0, t0)},
		Groups: []Group{stamped(all, t0, t0), stamped(staff, t0, t0)},
		Members: map[string][]Member{
			"g1": {userMember(alice), userMember(bob)},
			"g2": {groupMember(staff), userMember(carol)},
		},
		Grants: []Grant{
			{UserID: "u1", Privilege: "login", Origin: GrantDefault, CreatedAt: t0},
			{UserID: "u1", Privilege: "read-archive", Origin: GrantMapped, Rule: "all@example.com", CreatedAt: t0},
			{UserID: "u1", Privilege: "read-archive", Origin: GrantMapped, Rule: "staff@example.com", CreatedAt: t0},
			{UserID: "u2", Privilege: "login", Origin: GrantDefault, CreatedAt: t0},
		},
		Generation: 1,
	}
}

func testLoadStateEmpty(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	got := mustLoad(t, db)
	if diff := cmp.Diff(got, &State{Members: map[string][]Member{}, NeverSynced: true}); diff != "" {
		t.Errorf("LoadState (-got +want):\n%s", diff)
	}
	if got.Members == nil {
		t.Error("Members is nil, want an empty map")
	}
}

func testApplyRoundTrip(t *testing.T, be backend) {
	db, clk := be.openTest(t)
	mustApply(t, db, seedPlan())
	if diff := cmp.Diff(mustLoad(t, db), seedState()); diff != "" {
		t.Fatalf("after seed (-got +want):\n%s", diff)
	}

	// A day and a half later: rename alice, change staff, drop bob, carol's
	// membership, a mapped grant and the group all.
	clk.t = t1
	renamed := alice
	renamed.PrimaryEmail, renamed.Aliases, renamed.LastLogin = "alice.smith@example.com", nil, time.Time{}
	renamed.CreatedAt = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) // ignored: updates keep created_at
	staff2 := staff
	staff2.Name, staff2.Description, staff2.Aliases = "Staff members", "", []string{"team@example.com"}
	mustApply(t, db, &Plan{
		Users:  []UserChange{{Action: ActionUpdate, User: renamed}, {Action: ActionDelete, User: bob}},
		Groups: []GroupChange{{Action: ActionUpdate, Group: staff2}, {Action: ActionDelete, Group: all}},
		Members: []MemberChange{
			{Action: ActionDelete, GroupID: all.ID, Member: userMember(carol)},
			addMember(staff, userMember(carol)),
		},
		Grants: []GrantChange{
			{Action: ActionDelete, Grant: Grant{UserID: "u1", Privilege: "read-archive", Origin: GrantMapped, Rule: "all@example.com"}},
			addGrant(carol, "login", GrantAdmin, ""),
		},
	})
	want := &State{
		Users:  []User{stamped(renamed, t0, t1), stamped(carol, t0, t0)},
		Groups: []Group{stamped(staff2, t0, t1)},
		Members: map[string][]Member{
			"g1": {{Type: MemberUser, ID: "u1", Email: "alice.smith@example.com"}, userMember(carol)},
		},
		Grants: []Grant{
			{UserID: "u1", Privilege: "login", Origin: GrantDefault, CreatedAt: t0},
			{UserID: "u1", Privilege: "read-archive", Origin: GrantMapped, Rule: "staff@example.com", CreatedAt: t0},
			{UserID: "u3", Privilege: "login", Origin: GrantAdmin, CreatedAt: t1},
		},
		Deleted: []DeletedUser{{ID: "u2", UID: "bob", PrimaryEmail: "bob@example.com", CreatedAt: t0, DeletedAt: t1,
			ExpiresAt: t1.Add(DefaultDeletedRetention), Grants: 1}},
		Generation: 2,
	}
	if diff := cmp.Diff(mustLoad(t, db), want); diff != "" {
		t.Errorf("after update (-got +want):\n%s", diff)
	}
}

// TestLoadStateOrder checks the byte-wise orders the view relies on.
func testLoadStateOrder(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mk := func(id, uid string) User {
		return User{ID: id, UID: uid, PrimaryEmail: uid + "@example.com", Origin: OriginDirectory}
	}
	mustApply(t, db, &Plan{
		Users:  []UserChange{{Action: ActionAdd, User: mk("1", "zoe")}, {Action: ActionAdd, User: mk("2", "Zack")}, {Action: ActionAdd, User: mk("3", "adam")}},
		Groups: []GroupChange{{Action: ActionAdd, Group: Group{ID: "b", CN: "b", Email: "b@example.com"}}, {Action: ActionAdd, Group: Group{ID: "a", CN: "a", Email: "a@example.com"}}},
		Members: []MemberChange{
			{Action: ActionAdd, GroupID: "b", Member: Member{Type: MemberUser, ID: "3"}},
			{Action: ActionAdd, GroupID: "b", Member: Member{Type: MemberUser, ID: "1"}},
			{Action: ActionAdd, GroupID: "b", Member: Member{Type: MemberGroup, ID: "a"}},
		},
	})
	st := mustLoad(t, db)
	var uids, cns, members []string
	for _, u := range st.Users {
		uids = append(uids, u.UID)
	}
	for _, g := range st.Groups {
		cns = append(cns, g.CN)
	}
	for _, m := range st.Members["b"] {
		members = append(members, string(m.Type)+":"+m.ID)
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"users", uids, []string{"Zack", "adam", "zoe"}},
		{"groups", cns, []string{"a", "b"}},
		{"members", members, []string{"group:a", "user:1", "user:3"}},
	} {
		if diff := cmp.Diff(c.got, c.want); diff != "" {
			t.Errorf("%s order (-got +want):\n%s", c.name, diff)
		}
	}
}

func testApplyFailsAtomically(t *testing.T, be backend) {
	valid := func() []UserChange {
		renamed := alice
		renamed.DisplayName = "Changed"
		return []UserChange{
			{Action: ActionUpdate, User: renamed},
			{Action: ActionAdd, User: User{ID: "u4", UID: "dave", PrimaryEmail: "dave@example.com", Origin: OriginDirectory}},
		}
	}
	newGroup := Group{ID: "g3", CN: "new", Email: "new@example.com"}
	tests := []struct {
		name    string
		plan    *Plan
		wantIs  error  // nil: any error
		wantMsg string // in the error message
		pgMsg   string // in PostgreSQL's, where its words differ
	}{
		{
			name: "user add takes an email",
			plan: &Plan{
				Groups: []GroupChange{{Action: ActionAdd, Group: newGroup}},
				Users: append(valid(), UserChange{Action: ActionAdd,
					User: User{ID: "u5", UID: "eve", PrimaryEmail: "BOB@example.com", Origin: OriginDirectory}}),
				Members: []MemberChange{addMember(staff, userMember(carol))},
			},
			wantIs: ErrConflict, wantMsg: "add user BOB@example.com (id u5)",
		},
		{
			name: "user add takes a uid",
			plan: &Plan{Users: append(valid(), UserChange{Action: ActionAdd,
				User: User{ID: "u5", UID: "Carol", PrimaryEmail: "carol2@example.com", Origin: OriginDirectory}})},
			wantIs: ErrConflict, wantMsg: "users.uid", pgMsg: `constraint "users_uid"`,
		},
		{
			name: "user add of an existing id",
			plan: &Plan{Users: append(valid(), UserChange{Action: ActionAdd,
				User: User{ID: "u1", UID: "x", PrimaryEmail: "x@example.com", Origin: OriginDirectory}})},
			wantIs: ErrConflict,
		},
		{
			name:   "rename to a taken email",
			plan:   &Plan{Users: []UserChange{{Action: ActionUpdate, User: func() User { u := bob; u.PrimaryEmail = "alice@example.com"; return u }()}}},
			wantIs: ErrConflict, wantMsg: "update user alice@example.com (id u2)",
		},
		{
			name:   "group add takes a cn",
			plan:   &Plan{Groups: []GroupChange{{Action: ActionAdd, Group: newGroup}, {Action: ActionAdd, Group: Group{ID: "g4", CN: "STAFF", Email: "s2@example.com"}}}},
			wantIs: ErrConflict, wantMsg: "groups.cn", pgMsg: `constraint "groups_cn"`,
		},
		{
			name:   "update of a missing user",
			plan:   &Plan{Users: append(valid(), UserChange{Action: ActionUpdate, User: User{ID: "nope", UID: "nope", PrimaryEmail: "nope@example.com", Origin: OriginDirectory}})},
			wantIs: ErrNotFound, wantMsg: "update user nope@example.com",
		},
		{
			name:   "delete of a missing user",
			plan:   &Plan{Users: append(valid(), UserChange{Action: ActionDelete, User: User{ID: "nope", PrimaryEmail: "nope@example.com"}})},
			wantIs: ErrNotFound,
		},
		{
			name:   "update of a missing group",
			plan:   &Plan{Groups: []GroupChange{{Action: ActionAdd, Group: newGroup}, {Action: ActionUpdate, Group: Group{ID: "nope", CN: "nope", Email: "nope@example.com"}}}},
			wantIs: ErrNotFound,
		},
		{
			name: "delete of a missing group, the last change",
			plan: &Plan{
				Users:   valid(),
				Groups:  []GroupChange{{Action: ActionDelete, Group: all}, {Action: ActionDelete, Group: Group{ID: "nope", Email: "nope@example.com"}}},
				Members: []MemberChange{{Action: ActionDelete, GroupID: staff.ID, Member: userMember(bob)}},
				Grants:  []GrantChange{{Action: ActionDelete, Grant: Grant{UserID: "u2", Privilege: "login", Origin: GrantDefault}}},
			},
			wantIs: ErrNotFound, wantMsg: "delete group nope@example.com",
		},
		{
			name:   "member add of a missing user",
			plan:   &Plan{Users: valid(), Members: []MemberChange{addMember(staff, Member{Type: MemberUser, ID: "nope"})}},
			wantIs: ErrNotFound,
		},
		{
			name:   "member add to a missing group",
			plan:   &Plan{Members: []MemberChange{{Action: ActionAdd, GroupID: "nope", Member: userMember(carol)}}},
			wantIs: ErrNotFound,
		},
		{
			name:   "member add of an existing member",
			plan:   &Plan{Members: []MemberChange{addMember(staff, userMember(alice))}},
			wantIs: ErrConflict,
		},
		{
			name:   "member delete of a non-member",
			plan:   &Plan{Users: valid(), Members: []MemberChange{{Action: ActionDelete, GroupID: staff.ID, GroupEmail: staff.Email, Member: userMember(carol)}}},
			wantIs: ErrNotFound, wantMsg: "delete member user carol@example.com (id u3) of group staff@example.com",
		},
		{
			name:    "customer member",
			plan:    &Plan{Members: []MemberChange{addMember(staff, Member{Type: MemberCustomer, ID: "C01"})}},
			wantMsg: "unknown action or member type",
		},
		{
			name:   "grant add of an existing grant",
			plan:   &Plan{Users: valid(), Grants: []GrantChange{addGrant(bob, "login", GrantDefault, "")}},
			wantIs: ErrConflict,
		},
		{
			name:   "grant add for a missing user",
			plan:   &Plan{Grants: []GrantChange{addGrant(User{ID: "nope"}, "login", GrantDefault, "")}},
			wantIs: ErrNotFound,
		},
		{
			name:   "grant delete of a missing grant",
			plan:   &Plan{Users: valid(), Grants: []GrantChange{{Action: ActionDelete, Grant: Grant{UserID: "u2", Privilege: "login", Origin: GrantMapped}}}},
			wantIs: ErrNotFound,
		},
		{
			name:    "grant with an unknown origin",
			plan:    &Plan{Grants: []GrantChange{addGrant(bob, "login", "magic", "")}},
			wantMsg: "CHECK constraint failed", pgMsg: `violates check constraint "grants_origin_check"`,
		},
		{
			name:    "unknown action",
			plan:    &Plan{Users: append(valid(), UserChange{Action: "frob", User: bob})},
			wantMsg: "unknown action",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, clk := be.openTest(t)
			mustApply(t, db, seedPlan())
			before, runsBefore := mustLoad(t, db), mustRuns(t, db)
			clk.t = t1

			_, err := db.Apply(t.Context(), tt.plan, SyncRun{Source: "test"})
			if err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Apply error %q does not wrap %q", err, tt.wantIs)
			}
			msg := tt.wantMsg
			if be.name == "postgres" && tt.pgMsg != "" {
				msg = tt.pgMsg
			}
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("Apply error %q does not say %q", err, msg)
			}
			if diff := cmp.Diff(mustLoad(t, db), before); diff != "" {
				t.Errorf("state changed by a failed Apply (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(mustRuns(t, db), runsBefore); diff != "" {
				t.Errorf("sync runs changed by a failed Apply (-got +want):\n%s", diff)
			}
		})
	}
}

func testApplyLeavesLocalUsersAlone(t *testing.T, be backend) {
	local := User{ID: "l1", UID: "archive-admin", PrimaryEmail: "archive-admin@example.com"}
	for _, action := range []Action{ActionUpdate, ActionDelete} {
		t.Run(string(action), func(t *testing.T) {
			db, _ := be.openTest(t)
			if err := db.PutLocalUser(t.Context(), local); err != nil {
				t.Fatal(err)
			}
			before := mustLoad(t, db)
			changed := local
			changed.Origin, changed.DisplayName = OriginDirectory, "Taken over"
			_, err := db.Apply(t.Context(), &Plan{Users: []UserChange{{Action: action, User: changed}}}, SyncRun{})
			if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "origin local") {
				t.Errorf("Apply %s of a local user: error %v, want a refusal", action, err)
			}
			if diff := cmp.Diff(mustLoad(t, db), before); diff != "" {
				t.Errorf("state changed (-got +want):\n%s", diff)
			}
		})
	}
}

func testForeignKeysCascade(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	mustApply(t, db, &Plan{
		Users:  []UserChange{{Action: ActionDelete, User: alice}},
		Groups: []GroupChange{{Action: ActionDelete, Group: staff}},
	})
	for _, c := range []struct {
		query string
		want  int
	}{
		{`SELECT count(*) FROM group_user_members WHERE user_id = 'u1'`, 0},
		{`SELECT count(*) FROM group_user_members WHERE group_id = 'g1'`, 0},
		{`SELECT count(*) FROM group_group_members WHERE member_group_id = 'g1'`, 0},
		{`SELECT count(*) FROM grants WHERE user_id = 'u1'`, 0},
		{`SELECT count(*) FROM grants WHERE user_id = 'u2'`, 1},
		{`SELECT count(*) FROM group_user_members WHERE user_id = 'u3'`, 1},
	} {
		if got := count(t, db, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
}

func testOpenTwice(t *testing.T, be backend) {
	path := be.fresh(t)
	db := be.openAt(t, path)
	mustApply(t, db, seedPlan())
	want := mustLoad(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, and opened twice at once.
	db1, db2 := be.openAt(t, path), be.openAt(t, path)
	for _, db := range []*DB{db1, db2} {
		if diff := cmp.Diff(mustLoad(t, db), want); diff != "" {
			t.Errorf("state after reopening (-got +want):\n%s", diff)
		}
	}
	ms, err := migrations(db1.write.eng)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, db1, `SELECT count(*) FROM schema_migrations`); got != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(ms))
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTest(t)
	ctx := t.Context()
	var mode string
	if err := db.read.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	for _, c := range []struct {
		pool   *sql.DB
		pragma string
		want   int
	}{
		{db.write.DB, "foreign_keys", 1},
		{db.write.DB, "synchronous", 1},
		{db.write.DB, "busy_timeout", 5000},
		{db.read.DB, "busy_timeout", 5000},
		{db.read.DB, "query_only", 1},
	} {
		var got int
		if err := c.pool.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s = %d, want %d", c.pragma, got, c.want)
		}
	}
}

func testNewerSchemaRefused(t *testing.T, be backend) {
	path := be.fresh(t)
	db := be.openAt(t, path)
	if _, err := db.write.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := be.open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a database of a newer schema")
	}
	if !strings.Contains(err.Error(), "schema version 9999 is newer") {
		t.Errorf("Open error %q does not name the newer version", err)
	}
}

func testSyncRuns(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	ctx := t.Context()
	failed := SyncRun{
		StartedAt: t0, FinishedAt: t0.Add(time.Second), Source: "file:demo.json",
		Plan: &Plan{Users: []UserChange{{Action: ActionDelete, User: bob, Reason: "deleted in the source"}}}, Error: "too many user deletions",
	}
	failedID, err := db.RecordRun(ctx, failed)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("RecordRun wrote %d users", n)
	}
	plan := seedPlan()
	applied := SyncRun{StartedAt: t1, FinishedAt: t1.Add(time.Minute), Source: "google", Kind: RunIncremental, Forced: true,
		Counts: Counts{UsersDeleted: 42}} // Apply records the plan's counts instead
	appliedID, err := db.Apply(ctx, plan, applied)
	if err != nil {
		t.Fatal(err)
	}
	if appliedID <= failedID {
		t.Errorf("run ids %d then %d, want increasing", failedID, appliedID)
	}
	failed.ID, failed.Kind = failedID, RunFull // no kind is a full sync
	applied.ID, applied.Counts, applied.Plan = appliedID, plan.Counts(), RecordedPlan(plan)

	light := func(r SyncRun) SyncRun { r.Plan = nil; return r }
	for _, c := range []struct {
		limit int
		want  []SyncRun
	}{
		{0, []SyncRun{light(applied), light(failed)}},
		{1, []SyncRun{light(applied)}},
		{5, []SyncRun{light(applied), light(failed)}},
	} {
		got, err := db.SyncRuns(ctx, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, c.want); diff != "" {
			t.Errorf("SyncRuns(%d) (-got +want):\n%s", c.limit, diff)
		}
	}
	for _, want := range []SyncRun{failed, applied} {
		got, err := db.SyncRun(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("SyncRun(%d) (-got +want):\n%s", want.ID, diff)
		}
	}
	if _, err := db.SyncRun(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("SyncRun(999) error %v, want ErrNotFound", err)
	}
}

func testPutLocalUser(t *testing.T, be backend) {
	db, clk := be.openTest(t)
	ctx := t.Context()
	mustApply(t, db, seedPlan())
	local := User{ID: "l1", UID: "svc", PrimaryEmail: "svc@example.com", DisplayName: "Service", Origin: OriginDirectory}
	if err := db.PutLocalUser(ctx, local); err != nil {
		t.Fatal(err)
	}
	clk.t = t1
	local.DisplayName, local.Aliases = "Service account", []string{"robot@example.com"}
	if err := db.PutLocalUser(ctx, local); err != nil {
		t.Fatal(err)
	}
	want := local
	want.Origin, want.CreatedAt, want.UpdatedAt = OriginLocal, t0, t1
	var got *User
	st := mustLoad(t, db)
	for i := range st.Users {
		if st.Users[i].ID == "l1" {
			got = &st.Users[i]
		}
	}
	if diff := cmp.Diff(got, &want); diff != "" {
		t.Errorf("local user (-got +want):\n%s", diff)
	}

	for _, c := range []struct {
		name   string
		u      User
		wantIs error
	}{
		{"email of another user", User{ID: "l2", UID: "other", PrimaryEmail: "Alice@example.com"}, ErrConflict},
		{"uid of another user", User{ID: "l2", UID: "BOB", PrimaryEmail: "other@example.com"}, ErrConflict},
		{"no uid", User{ID: "l2", PrimaryEmail: "other@example.com"}, nil},
	} {
		err := db.PutLocalUser(ctx, c.u)
		if err == nil || (c.wantIs != nil && !errors.Is(err, c.wantIs)) {
			t.Errorf("PutLocalUser with %s: error %v, want %v", c.name, err, c.wantIs)
		}
	}
}

func testAdminGrants(t *testing.T, be backend) {
	db, clk := be.openTest(t)
	ctx := t.Context()
	mustApply(t, db, seedPlan())
	clk.t = t1
	for range 2 { // granting twice is granting once
		if err := db.GrantAdmin(ctx, "u1", "read-archive"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.GrantAdmin(ctx, "u3", "audit"); err != nil {
		t.Fatal(err)
	}
	grants := func() []Grant { return mustLoad(t, db).Grants }
	seed := seedState().Grants
	want := []Grant{
		seed[0],
		{UserID: "u1", Privilege: "read-archive", Origin: GrantAdmin, CreatedAt: t1},
		seed[1], seed[2], seed[3],
		{UserID: "u3", Privilege: "audit", Origin: GrantAdmin, CreatedAt: t1},
	}
	if diff := cmp.Diff(grants(), want); diff != "" {
		t.Errorf("after GrantAdmin (-got +want):\n%s", diff)
	}

	// Revoking takes the privilege whatever the reasons it was held for.
	if err := db.RevokeAdmin(ctx, "u1", "read-archive"); err != nil {
		t.Fatal(err)
	}
	want = []Grant{want[0], want[4], want[5]}
	if diff := cmp.Diff(grants(), want); diff != "" {
		t.Errorf("after RevokeAdmin (-got +want):\n%s", diff)
	}

	if err := db.GrantAdmin(ctx, "nope", "login"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GrantAdmin to a missing user: error %v, want ErrNotFound", err)
	}
	if err := db.RevokeAdmin(ctx, "nope", "login"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeAdmin from a missing user: error %v, want ErrNotFound", err)
	}
}

func testStats(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	users, groups, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if users != 3 || groups != 2 {
		t.Errorf("Stats = %d users, %d groups; want 3, 2", users, groups)
	}
}

// TestReadDuringWrite holds a write transaction open, as a long sync does,
// and reads meanwhile: reads must neither wait for it nor see its changes.
func testReadDuringWrite(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	want := mustLoad(t, db)

	tx, err := db.beginWrite(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), `DELETE FROM users`); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	got, err := db.LoadState(ctx)
	if err != nil {
		t.Fatalf("LoadState during a write transaction: %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("LoadState during a write transaction (-got +want):\n%s", diff)
	}
	if _, err := db.SyncRuns(ctx, 10); err != nil {
		t.Errorf("SyncRuns during a write transaction: %v", err)
	}
	if _, _, err := db.Stats(ctx); err != nil {
		t.Errorf("Stats during a write transaction: %v", err)
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space", "new")
	path := filepath.Join(dir, "a?b#c%20d.db")
	db := openPath(t, path)
	mustApply(t, db, seedPlan())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "a?b#c%20d.db") {
			t.Errorf("stray file %s in %s", e.Name(), dir)
		}
	}
}

// TestApplyRecreatedAddress: Google lets an admin delete a user and create a
// new one with the same address; one plan deletes the old id and adds the
// new one, and must apply.
func testApplyRecreatedAddress(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	bob2 := bob
	bob2.ID = "u9"
	mustApply(t, db, &Plan{Users: []UserChange{
		{Action: ActionAdd, User: bob2},
		{Action: ActionDelete, User: bob},
	}})
	st := mustLoad(t, db)
	var ids []string
	for _, u := range st.Users {
		if u.PrimaryEmail == bob.PrimaryEmail {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) != 1 || ids[0] != "u9" {
		t.Errorf("users with bob's address: %v, want [u9]", ids)
	}
}

func testSyncRunHistoryBounded(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	db.KeepRuns, db.KeepRunPlans = 5, 2
	plan := &Plan{Users: []UserChange{{Action: ActionDelete, User: bob, Reason: "deleted in the source"}}}
	var ids []int64
	for range 8 {
		id, err := db.RecordRun(t.Context(), SyncRun{StartedAt: t0, Source: "test", Plan: plan, Error: "refused"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	runs, err := db.SyncRuns(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 5 || runs[0].ID != ids[7] || runs[4].ID != ids[3] {
		t.Fatalf("kept runs %v, want the newest 5 of %v", runs, ids)
	}
	for i, id := range ids[3:] {
		r, err := db.SyncRun(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if hasPlan, want := r.Plan != nil, i >= 3; hasPlan != want {
			t.Errorf("run %d has a plan: %v, want %v", id, hasPlan, want)
		}
	}
	if _, err := db.SyncRun(t.Context(), ids[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("pruned run: %v, want ErrNotFound", err)
	}
}

// A plan made against a state another writer has changed since is refused
// whole, so the caller plans again instead of failing halfway.
func testApplyStalePlan(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	st := mustLoad(t, db)
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionDelete, User: bob}}})
	stale := &Plan{Users: []UserChange{{Action: ActionUpdate, User: carol}}, Generation: &st.Generation}
	if _, err := db.Apply(context.Background(), stale, SyncRun{}); !errors.Is(err, ErrStale) {
		t.Fatalf("Apply of a stale plan: %v, want ErrStale", err)
	}
	if n := len(mustRuns(t, db)); n != 2 {
		t.Errorf("%d runs recorded, want 2 (none for the stale plan)", n)
	}
	fresh := mustLoad(t, db)
	stale.Generation = &fresh.Generation
	mustApply(t, db, stale)
}

// The last successful run outlives any number of failed ones: it is what
// tells a restarted ldapgate that its data came from a sync.
func testLastSuccessfulRunKept(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	db.KeepRuns = 3
	if !mustLoad(t, db).NeverSynced {
		t.Fatal("a new store is not NeverSynced")
	}
	ok, err := db.RecordRun(t.Context(), SyncRun{StartedAt: t0, FinishedAt: t0, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := db.RecordRun(t.Context(), SyncRun{StartedAt: t0, Source: "test", Error: "google: 503"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SyncRun(t.Context(), ok); err != nil {
		t.Errorf("the last successful run was pruned: %v", err)
	}
	if runs, _ := db.SyncRuns(t.Context(), 0); len(runs) != 4 {
		t.Errorf("%d runs kept, want the newest 3 and the last successful one", len(runs))
	}
	if mustLoad(t, db).NeverSynced {
		t.Error("NeverSynced after a successful run and 10 failed ones")
	}
}

// A large step whose one change fails (pipelined on PostgreSQL) fails the
// apply with the error of that change, and applies nothing.
func testApplyManyFailsOnOne(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	mustApply(t, db, seedPlan())
	before := mustLoad(t, db)
	plan := &Plan{}
	for i := range 50 {
		u := User{ID: fmt.Sprintf("n%d", i), UID: fmt.Sprintf("new%d", i), PrimaryEmail: fmt.Sprintf("new%d@example.com", i), Origin: OriginDirectory}
		plan.Users = append(plan.Users, UserChange{Action: ActionAdd, User: u})
		m := userMember(u)
		if i == 37 {
			m.ID, m.Email = "ghost", "ghost@example.com" // no such user
		}
		plan.Members = append(plan.Members, addMember(staff, m))
	}
	_, err := db.Apply(t.Context(), plan, SyncRun{Source: "test"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "add member user ghost@example.com (id ghost) of group staff@example.com") {
		t.Fatalf("Apply = %v, want ErrNotFound naming the ghost member", err)
	}
	if diff := cmp.Diff(mustLoad(t, db), before); diff != "" {
		t.Errorf("state changed by a failed Apply (-got +want):\n%s", diff)
	}
	// Without the ghost, all 50 are applied.
	plan.Members[37] = addMember(staff, userMember(plan.Users[37].User))
	mustApply(t, db, plan)
	if got := len(mustLoad(t, db).Members[staff.ID]); got != 52 {
		t.Errorf("staff has %d members, want 52", got)
	}
}
