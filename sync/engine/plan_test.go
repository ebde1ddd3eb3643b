package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ldapgate/ldapgate/store"
)

// plan filters snap and plans it against st.
func plan(t testing.TB, st *store.State, snap *store.Snapshot, opts Options) (*store.Plan, []string) {
	t.Helper()
	f, err := FilterSnapshot(snap, opts.Filter, opts.Rules)
	if err != nil {
		t.Fatal(err)
	}
	return Plan(st, f, opts)
}

func addU(u store.User, uid string) store.UserChange {
	u.UID = uid
	return store.UserChange{Action: store.ActionAdd, User: u, Reason: ReasonNew}
}

func updU(u store.User, reason string, fields ...string) store.UserChange {
	return store.UserChange{Action: store.ActionUpdate, User: u, Fields: fields, Reason: reason}
}

func delU(u store.User, reason string) store.UserChange {
	return store.UserChange{Action: store.ActionDelete, User: u, Reason: reason}
}

// revoking marks c as revoking the user's app passwords.
func revoking(c store.UserChange) store.UserChange {
	c.RevokeAppPasswords = true
	return c
}

func addG(g store.Group, cn string) store.GroupChange {
	g.CN = cn
	return store.GroupChange{Action: store.ActionAdd, Group: g, Reason: ReasonNew}
}

func memb(a store.Action, gid, gemail string, m store.Member, email, reason string) store.MemberChange {
	m.Email = email
	return store.MemberChange{Action: a, GroupID: gid, GroupEmail: gemail, Member: m, Reason: reason}
}

func grant(a store.Action, uid, email, priv string, origin store.GrantOrigin, rule, reason string) store.GrantChange {
	return store.GrantChange{Action: a, Grant: store.Grant{UserID: uid, Privilege: priv, Origin: origin, Rule: rule}, UserEmail: email, Reason: reason}
}

func TestPlan(t *testing.T) {
	alice := usr("1", "alice@example.com", inOU("/Sales"), aliases("al@example.com", "a.martin@example.com"))
	bob := usr("2", "bob@example.com", inOU("/Sales"))
	carol := usr("3", "carol@example.com", inOU("/Sales"))
	dave := usr("4", "dave@example.com", inOU("/Engineering"))
	sales := grp("g1", "sales@example.com")
	admins := grp("g2", "admins@example.com")
	it := grp("g3", "it@example.com")
	stored := func(u store.User, uid string) store.User { u.UID = uid; return u }
	storedG := func(g store.Group, cn string) store.Group { g.CN = cn; return g }
	localU := stored(usr("L1", "root@example.com", local), "root")

	tests := []struct {
		name         string
		state        *store.State
		snap         *store.Snapshot
		opts         Options
		want         *store.Plan
		wantWarnings []string // substrings, one per warning, in order
	}{
		{
			name:  "empty store: add everything, default privileges",
			state: &store.State{},
			snap: &store.Snapshot{
				Users:   []store.User{bob, alice},
				Groups:  []store.Group{sales},
				Members: map[string][]store.Member{"g1": {mu("2"), mu("1")}},
			},
			opts: Options{DeleteUsers: true, DefaultPrivileges: []string{"read-own-archive", "login", "login"}},
			want: &store.Plan{
				Users:  []store.UserChange{addU(alice, "alice"), addU(bob, "bob")},
				Groups: []store.GroupChange{addG(sales, "sales")},
				Members: []store.MemberChange{
					memb(store.ActionAdd, "g1", "sales@example.com", mu("1"), "alice@example.com", ReasonMember),
					memb(store.ActionAdd, "g1", "sales@example.com", mu("2"), "bob@example.com", ReasonMember),
				},
				Grants: []store.GrantChange{
					grant(store.ActionAdd, "1", "alice@example.com", "login", store.GrantDefault, "", ReasonDefault),
					grant(store.ActionAdd, "1", "alice@example.com", "read-own-archive", store.GrantDefault, "", ReasonDefault),
					grant(store.ActionAdd, "2", "bob@example.com", "login", store.GrantDefault, "", ReasonDefault),
					grant(store.ActionAdd, "2", "bob@example.com", "read-own-archive", store.GrantDefault, "", ReasonDefault),
				},
			},
		},
		{
			name: "update lists the changed fields; alias order and case do not count",
			state: &store.State{Users: []store.User{
				stored(usr("1", "alice@example.com", inOU("/Sales"), aliases("A.Martin@example.com", "al@example.com"), func(u *store.User) {
					u.DisplayName = "Alice"
					u.LastLogin = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				}), "alice"),
				stored(usr("2", "bob@example.com", inOU("/Sales"), func(u *store.User) {
					u.LastLogin = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				}), "bob"),
			}},
			snap: &store.Snapshot{Users: []store.User{
				func() store.User {
					u := alice
					u.OrgUnitPath = "/Sales/EMEA"
					u.LastLogin = time.Date(2025, 1, 1, 0, 0, 0, 500e6, time.Local) // same second
					return u
				}(),
				func() store.User { u := bob; u.IsAdmin = true; u.Aliases = []string{"robert@example.com"}; return u }(),
			}},
			opts: Options{DeleteUsers: true, DefaultPrivileges: []string{"login"}},
			want: &store.Plan{Users: []store.UserChange{
				updU(func() store.User {
					u := stored(alice, "alice")
					u.OrgUnitPath = "/Sales/EMEA"
					u.LastLogin = time.Date(2025, 1, 1, 0, 0, 0, 500e6, time.Local)
					return u
				}(), ReasonChanged, "displayName", "orgUnitPath"),
				updU(func() store.User {
					u := stored(bob, "bob")
					u.IsAdmin = true
					u.Aliases = []string{"robert@example.com"}
					return u
				}(),
					ReasonChanged, "aliases", "isAdmin", "lastLogin"),
			}},
		},
		{
			name: "a rename is an update; the UID follows a new local part only",
			state: &store.State{
				Users: []store.User{
					stored(bob, "bob"),
					stored(usr("5", "alice@example.org"), "alice.example-org"),
					stored(carol, "carol"),
				},
				Groups:  []store.Group{storedG(sales, "sales")},
				Members: map[string][]store.Member{"g1": {mu("2")}},
				Grants:  []store.Grant{{UserID: "2", Privilege: "login", Origin: store.GrantDefault}},
			},
			snap: &store.Snapshot{
				Users: []store.User{
					usr("2", "robert@example.com", inOU("/Sales")),
					usr("5", "alice@example.net"),
					usr("3", "Carol@Example.com", inOU("/Sales")),
				},
				Groups:  []store.Group{grp("g1", "sales-team@example.com")},
				Members: map[string][]store.Member{"g1": {mu("2")}},
			},
			opts: Options{DeleteUsers: true, DefaultPrivileges: []string{"login"}},
			want: &store.Plan{
				Users: []store.UserChange{
					updU(usr("5", "alice@example.net", withUID("alice.example-org")), "renamed from alice@example.org", "primaryEmail"),
					updU(usr("3", "Carol@Example.com", inOU("/Sales"), withUID("carol")), "renamed from carol@example.com", "primaryEmail"),
					updU(usr("2", "robert@example.com", inOU("/Sales"), withUID("robert")),
						"renamed from bob@example.com", "primaryEmail", "uid"),
				},
				Groups: []store.GroupChange{{Action: store.ActionUpdate, Group: func() store.Group {
					g := grp("g1", "sales-team@example.com")
					g.CN = "sales-team"
					return g
				}(), Fields: []string{"email", "cn"}, Reason: "renamed from sales@example.com"}},
			},
		},
		{
			name: "deletes with reasons; local users untouched",
			state: &store.State{
				Users: []store.User{
					stored(alice, "alice"), stored(bob, "bob"), stored(carol, "carol"), stored(dave, "dave"), localU,
				},
				Groups:  []store.Group{storedG(sales, "sales"), storedG(it, "it")},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2"), mu("3"), mu("4")}, "g3": {mu("4")}},
				Grants: []store.Grant{
					{UserID: "2", Privilege: "login", Origin: store.GrantDefault},
					{UserID: "L1", Privilege: "admin", Origin: store.GrantAdmin},
				},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, usr("2", "bob@example.com", inOU("/Sales"), suspended), dave},
				Groups:  []store.Group{sales},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2"), mu("4")}},
			},
			opts: Options{DeleteUsers: true, Filter: Filter{OrgUnits: []string{"/Sales"}}},
			want: &store.Plan{
				Users: []store.UserChange{
					revoking(delU(stored(bob, "bob"), "suspended (filter.include_suspended is false)")),
					delU(stored(carol, "carol"), ReasonDeleted),
					delU(stored(dave, "dave"), "not in org units [/Sales]"),
				},
				Groups: []store.GroupChange{{Action: store.ActionDelete, Group: storedG(it, "it"), Reason: ReasonDeleted}},
			},
		},
		{
			name: "delete_users false deletes no user and updates the ones kept",
			state: &store.State{
				Users:   []store.User{stored(alice, "alice"), stored(bob, "bob"), stored(carol, "carol")},
				Groups:  []store.Group{storedG(sales, "sales"), storedG(admins, "admins")},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2"), mu("3")}, "g2": {mu("2")}},
				Grants: []store.Grant{
					{UserID: "2", Privilege: "admin", Origin: store.GrantMapped, Rule: "admins@example.com"},
					{UserID: "2", Privilege: "login", Origin: store.GrantDefault},
				},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, usr("2", "bob@example.com", inOU("/Sales"), suspended)},
				Groups:  []store.Group{sales, admins},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2")}, "g2": {mu("2")}},
			},
			opts: Options{Rules: []Rule{{Group: "admins@example.com", Privileges: []string{"admin"}}}},
			want: &store.Plan{
				Users: []store.UserChange{
					revoking(updU(stored(usr("2", "bob@example.com", inOU("/Sales"), suspended), "bob"),
						"out of scope: suspended (filter.include_suspended is false); kept because sync.delete_users is false", "suspended")),
				},
				Members: []store.MemberChange{
					memb(store.ActionDelete, "g2", "admins@example.com", mu("2"), "bob@example.com", "out of scope: suspended (filter.include_suspended is false)"),
					memb(store.ActionDelete, "g1", "sales@example.com", mu("2"), "bob@example.com", "out of scope: suspended (filter.include_suspended is false)"),
					memb(store.ActionDelete, "g1", "sales@example.com", mu("3"), "carol@example.com", ReasonNotMember),
				},
				Grants: []store.GrantChange{
					grant(store.ActionDelete, "2", "bob@example.com", "admin", store.GrantMapped, "admins@example.com", "out of scope: suspended (filter.include_suspended is false)"),
				},
			},
			wantWarnings: []string{"sync.delete_users is false: keeping 2 user(s) that are gone from the source or out of scope: bob@example.com, carol@example.com"},
		},
		{
			name: "local users keep their UIDs and addresses",
			state: &store.State{
				Users:  []store.User{stored(usr("L1", "alice@example.net", local), "alice"), stored(usr("L2", "bob@example.com", local), "bob")},
				Grants: []store.Grant{{UserID: "L1", Privilege: "admin", Origin: store.GrantMapped, Rule: "gone@example.com"}},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, bob},
				Groups:  []store.Group{sales},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2")}},
			},
			opts: Options{DeleteUsers: true, PrimaryDomain: "example.com"},
			want: &store.Plan{
				Users:   []store.UserChange{addU(alice, "alice.example-com")},
				Groups:  []store.GroupChange{addG(sales, "sales")},
				Members: []store.MemberChange{memb(store.ActionAdd, "g1", "sales@example.com", mu("1"), "alice@example.com", ReasonMember)},
			},
			wantWarnings: []string{"source user bob@example.com (id 2) not mirrored: local user uid=bob has that address"},
		},
		{
			name: "default privileges only for new users",
			state: &store.State{
				Users:  []store.User{stored(alice, "alice"), stored(bob, "bob")},
				Grants: []store.Grant{{UserID: "2", Privilege: "login", Origin: store.GrantDefault}}, // alice's was revoked
			},
			snap: &store.Snapshot{Users: []store.User{alice, bob, carol}},
			opts: Options{DeleteUsers: true, DefaultPrivileges: []string{"login"}},
			want: &store.Plan{
				Users:  []store.UserChange{addU(carol, "carol")},
				Grants: []store.GrantChange{grant(store.ActionAdd, "3", "carol@example.com", "login", store.GrantDefault, "", ReasonDefault)},
			},
		},
		{
			name: "mapped grants follow nested membership; admin grants untouched",
			state: &store.State{
				Users:   []store.User{stored(alice, "alice"), stored(bob, "bob"), stored(carol, "carol"), stored(dave, "dave")},
				Groups:  []store.Group{storedG(admins, "admins"), storedG(it, "it")},
				Members: map[string][]store.Member{"g2": {mu("2"), mg("g3")}},
				Grants: []store.Grant{
					{UserID: "2", Privilege: "admin", Origin: store.GrantMapped, Rule: "admins@example.com"},
					{UserID: "2", Privilege: "export", Origin: store.GrantMapped, Rule: "admins@example.com"},
					{UserID: "2", Privilege: "admin", Origin: store.GrantAdmin},
					{UserID: "3", Privilege: "audit", Origin: store.GrantMapped, Rule: "old-rule@example.com"},
					{UserID: "4", Privilege: "admin", Origin: store.GrantMapped, Rule: "admins@example.com"},
					{UserID: "4", Privilege: "login", Origin: store.GrantAdmin},
				},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, bob, carol},
				Groups:  []store.Group{admins, it},
				Members: map[string][]store.Member{"g2": {mg("g3"), mu("4")}, "g3": {mu("1")}},
			},
			opts: Options{DeleteUsers: true, Rules: []Rule{
				{Group: "Admins@Example.com", Privileges: []string{"admin", "export"}},
				{Group: "missing@example.com", Privileges: []string{"audit"}},
			}},
			want: &store.Plan{
				Users: []store.UserChange{delU(stored(dave, "dave"), ReasonDeleted)},
				Members: []store.MemberChange{
					memb(store.ActionAdd, "g3", "it@example.com", mu("1"), "alice@example.com", ReasonMember),
					memb(store.ActionDelete, "g2", "admins@example.com", mu("2"), "bob@example.com", ReasonNotMember),
				},
				Grants: []store.GrantChange{
					grant(store.ActionAdd, "1", "alice@example.com", "admin", store.GrantMapped, "admins@example.com", "member of admins@example.com"),
					grant(store.ActionAdd, "1", "alice@example.com", "export", store.GrantMapped, "admins@example.com", "member of admins@example.com"),
					grant(store.ActionDelete, "2", "bob@example.com", "admin", store.GrantMapped, "admins@example.com", "no longer a member of admins@example.com"),
					grant(store.ActionDelete, "2", "bob@example.com", "export", store.GrantMapped, "admins@example.com", "no longer a member of admins@example.com"),
					grant(store.ActionDelete, "3", "carol@example.com", "audit", store.GrantMapped, "old-rule@example.com", "no privilege rule grants it for old-rule@example.com"),
				},
			},
			wantWarnings: []string{"privilege rule for group missing@example.com: no such group in the source; it grants nothing"},
		},
		{
			name: "group filter: groups out of scope are deleted, memberships need both ends",
			state: &store.State{
				Users:   []store.User{stored(alice, "alice"), stored(bob, "bob")},
				Groups:  []store.Group{storedG(sales, "sales"), storedG(admins, "admins"), storedG(it, "it")},
				Members: map[string][]store.Member{"g1": {mu("1"), mu("2")}, "g3": {mu("1"), mg("g1")}},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, bob},
				Groups:  []store.Group{sales, admins, it},
				Members: map[string][]store.Member{"g1": {mu("1")}, "g3": {mu("1"), mg("g1")}, "g2": {mu("2")}},
			},
			opts: Options{DeleteUsers: true, MaxDeletePercent: 100, Filter: Filter{Groups: []string{"sales@example.com"}}},
			want: &store.Plan{
				Users: []store.UserChange{delU(stored(bob, "bob"), "not a member of [sales@example.com]")},
				Groups: []store.GroupChange{
					{Action: store.ActionDelete, Group: storedG(admins, "admins"), Reason: "out of scope (not nested in [sales@example.com] or a privilege rule's group)"},
					{Action: store.ActionDelete, Group: storedG(it, "it"), Reason: "out of scope (not nested in [sales@example.com] or a privilege rule's group)"},
				},
			},
		},
		{
			name: "customer-wide members become user members",
			state: &store.State{
				Users:  []store.User{stored(alice, "alice")},
				Groups: []store.Group{storedG(sales, "sales")},
			},
			snap: &store.Snapshot{
				Users:   []store.User{alice, bob, usr("9", "gone@example.com", suspended)},
				Groups:  []store.Group{sales},
				Members: map[string][]store.Member{"g1": {mc("C01"), mu("1")}},
			},
			opts: Options{DeleteUsers: true},
			want: &store.Plan{
				Users: []store.UserChange{addU(bob, "bob")},
				Members: []store.MemberChange{
					memb(store.ActionAdd, "g1", "sales@example.com", mu("1"), "alice@example.com", ReasonMember),
					memb(store.ActionAdd, "g1", "sales@example.com", mu("2"), "bob@example.com", ReasonMember),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := plan(t, tt.state, tt.snap, tt.opts)
			if diff := cmp.Diff(got, tt.want, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Plan() (-got +want):\n%s", diff)
			}
			if len(warnings) != len(tt.wantWarnings) {
				t.Errorf("Plan() warnings = %q, want %d", warnings, len(tt.wantWarnings))
			} else {
				for i, w := range tt.wantWarnings {
					if !strings.Contains(warnings[i], w) {
						t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w)
					}
				}
			}
			// Applied, the plan leaves nothing to do.
			again, _ := plan(t, applyPlan(t, tt.state, got), tt.snap, tt.opts)
			if diff := cmp.Diff(again, &store.Plan{}, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("re-run after apply is not empty (-got +want):\n%s", diff)
			}
		})
	}
}

// TestUIDClash checks that local-part clashes across domains resolve the
// same way whatever the order of the source, and stay put once assigned.
func TestUIDClash(t *testing.T) {
	users := []store.User{
		usr("1", "alice@example.org"),
		usr("2", "alice@example.com"),
		usr("3", "Alice@Example.net"),
		usr("4", "alice.example-org@example.com"), // takes the fallback of alice@example.org
		usr("5", "bob@example.org"),
	}
	groups := []store.Group{grp("g1", "sales@example.org"), grp("g2", "sales@example.com"), grp("g3", "team@example.org")}
	opts := Options{PrimaryDomain: "example.com", DeleteUsers: true}
	wantUIDs := map[string]string{
		"1": "alice.example-org-2", "2": "alice", "3": "alice.example-net", "4": "alice.example-org", "5": "bob",
	}
	wantCNs := map[string]string{"g1": "sales.example-org", "g2": "sales", "g3": "team"}

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		t.Run(fmt.Sprintf("order %d", i), func(t *testing.T) {
			snap := &store.Snapshot{Users: slices.Clone(users), Groups: slices.Clone(groups)}
			rng.Shuffle(len(snap.Users), func(i, j int) { snap.Users[i], snap.Users[j] = snap.Users[j], snap.Users[i] })
			rng.Shuffle(len(snap.Groups), func(i, j int) { snap.Groups[i], snap.Groups[j] = snap.Groups[j], snap.Groups[i] })
			p, _ := plan(t, &store.State{}, snap, opts)
			uids, cns := make(map[string]string), make(map[string]string)
			for _, c := range p.Users {
				uids[c.User.ID] = c.User.UID
			}
			for _, c := range p.Groups {
				cns[c.Group.ID] = c.Group.CN
			}
			if diff := cmp.Diff(uids, wantUIDs); diff != "" {
				t.Errorf("UIDs (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(cns, wantCNs); diff != "" {
				t.Errorf("CNs (-got +want):\n%s", diff)
			}
			again, _ := plan(t, applyPlan(t, &store.State{}, p), snap, opts)
			if !again.Empty() {
				t.Errorf("re-run is not empty: %+v", again)
			}
		})
	}

	// Assigned UIDs stay: alice@example.org came first and keeps "alice";
	// alice@example.com, though in the primary domain, gets the fallback.
	st := &store.State{}
	first := &store.Snapshot{Users: []store.User{usr("1", "alice@example.org")}}
	p, _ := plan(t, st, first, opts)
	st = applyPlan(t, st, p)
	second := &store.Snapshot{Users: []store.User{usr("2", "alice@example.com"), usr("1", "alice@example.org")}}
	p, _ = plan(t, st, second, opts)
	want := &store.Plan{Users: []store.UserChange{addU(usr("2", "alice@example.com"), "alice.example-com")}}
	if diff := cmp.Diff(p, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("second run (-got +want):\n%s", diff)
	}
	st = applyPlan(t, st, p)

	// A rename to a new local part re-assigns by the same rule; the old UID
	// stays taken for the run.
	third := &store.Snapshot{Users: []store.User{usr("2", "alice@example.com"), usr("1", "bob@example.org"), usr("6", "alice@example.net")}}
	p, _ = plan(t, st, third, opts)
	want = &store.Plan{Users: []store.UserChange{
		addU(usr("6", "alice@example.net"), "alice.example-net"),
		updU(usr("1", "bob@example.org", withUID("bob")),
			"renamed from alice@example.org", "primaryEmail", "uid"),
	}}
	if diff := cmp.Diff(p, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("rename run (-got +want):\n%s", diff)
	}
}

func TestAssignNames(t *testing.T) {
	tests := []struct {
		name    string
		reqs    []nameRequest
		taken   map[string]string
		primary string
		want    map[string]string
	}{
		{
			name:    "primary domain wins over the lower address",
			reqs:    []nameRequest{{"1", "alice@a.example"}, {"2", "alice@example.com"}},
			primary: "example.com",
			want:    map[string]string{"1": "alice.a-example", "2": "alice"},
		},
		{
			name: "without a primary domain the lower address wins",
			reqs: []nameRequest{{"2", "alice@example.com"}, {"1", "alice@a.example"}},
			want: map[string]string{"1": "alice", "2": "alice.example-com"},
		},
		{
			name:    "taken names are avoided, case-insensitively",
			reqs:    []nameRequest{{"1", "Alice@example.com"}, {"2", "bob@example.com"}},
			taken:   map[string]string{"alice": "x", "bob": "2"},
			primary: "example.com",
			want:    map[string]string{"1": "alice.example-com", "2": "bob"},
		},
		{
			name:  "fallback taken too",
			reqs:  []nameRequest{{"1", "alice@example.com"}},
			taken: map[string]string{"alice": "x", "alice.example-com": "y", "alice.example-com-2": "z"},
			want:  map[string]string{"1": "alice.example-com-3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taken := make(map[string]string)
			for k, v := range tt.taken {
				taken[k] = v
			}
			got := assignNames(tt.reqs, taken, tt.primary)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("assignNames() (-got +want):\n%s", diff)
			}
		})
	}
}

// TestRecreatedUserKeepsDN: a user deleted in Google and recreated with the
// same address (a new id) gets the old DN back in the same plan.
func TestRecreatedUserKeepsDN(t *testing.T) {
	oldBob := usr("2", "bob@example.com", withUID("bob"))
	newBob := usr("9", "bob@example.com")
	st := &store.State{Users: []store.User{oldBob}}
	p, _ := plan(t, st, &store.Snapshot{Users: []store.User{newBob}}, Options{PrimaryDomain: "example.com", DeleteUsers: true, MaxDeletePercent: 100})
	want := []store.UserChange{addU(newBob, "bob"), delU(oldBob, ReasonDeleted)}
	if diff := cmp.Diff(p.Users, want, cmpopts.SortSlices(func(a, b store.UserChange) bool { return a.Action < b.Action })); diff != "" {
		t.Errorf("user changes (-got +want):\n%s", diff)
	}
	// And the store takes the plan in one go.
	after := applyPlan(t, st, p)
	if len(after.Users) != 1 || after.Users[0].ID != "9" || after.Users[0].UID != "bob" {
		t.Errorf("after apply: %+v", after.Users)
	}
}

// A change in the extra attributes is an update; their order within an
// attribute is not.
func TestPlanAttributes(t *testing.T) {
	alice := usr("1", "alice@example.com")
	alice.UID = "alice"
	alice.Attributes = map[string][]string{"telephoneNumber": {"1", "2"}}
	st := &store.State{Users: []store.User{alice}}
	for _, tt := range []struct {
		name  string
		attrs map[string][]string
		want  []string // fields of the update; nil: none
	}{
		{"same", map[string][]string{"telephoneNumber": {"1", "2"}}, nil},
		{"reordered", map[string][]string{"telephoneNumber": {"2", "1"}}, nil},
		{"value changed", map[string][]string{"telephoneNumber": {"1", "3"}}, []string{"attributes"}},
		{"attribute added", map[string][]string{"telephoneNumber": {"1", "2"}, "employeeNumber": {"7"}}, []string{"attributes"}},
		{"all gone", nil, []string{"attributes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := alice
			u.UID = ""
			u.Attributes = tt.attrs
			p, _ := plan(t, st, &store.Snapshot{Users: []store.User{u}}, Options{DeleteUsers: true})
			if diff := cmp.Diff(updatedFields(p), tt.want); diff != "" {
				t.Errorf("fields (-got +want):\n%s", diff)
			}
		})
	}
}

// updatedFields lists the fields of p's user changes.
func updatedFields(p *store.Plan) []string {
	var got []string
	for _, c := range p.Users {
		got = append(got, c.Fields...)
	}
	return got
}

// A change in the user's POSIX account from the source is an update.
func TestPlanPOSIX(t *testing.T) {
	alice := usr("1", "alice@example.com")
	alice.UID = "alice"
	alice.POSIX = store.POSIXAccount{UID: 1001, GID: 100, Shell: "/bin/bash"}
	st := &store.State{Users: []store.User{alice}}
	for _, tt := range []struct {
		name  string
		posix store.POSIXAccount
		want  []string // fields of the update; nil: none
	}{
		{"same", alice.POSIX, nil},
		{"uid changed", store.POSIXAccount{UID: 1002, GID: 100, Shell: "/bin/bash"}, []string{"posix"}},
		{"shell changed", store.POSIXAccount{UID: 1001, GID: 100, Shell: "/bin/zsh"}, []string{"posix"}},
		{"gone", store.POSIXAccount{}, []string{"posix"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := alice
			u.UID = ""
			u.POSIX = tt.posix
			p, _ := plan(t, st, &store.Snapshot{Users: []store.User{u}}, Options{DeleteUsers: true})
			if diff := cmp.Diff(updatedFields(p), tt.want); diff != "" {
				t.Errorf("fields (-got +want):\n%s", diff)
			}
		})
	}
}
