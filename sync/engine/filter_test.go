package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
)

func TestFilterSnapshot(t *testing.T) {
	// An organisation: top ⊃ mid ⊃ leaf (nested), a cycle c1 ⇄ c2, a group
	// with a customer-wide member, and users in various org units.
	snap := &store.Snapshot{
		Users: []store.User{
			usr("u1", "top@example.com", inOU("/Sales")),
			usr("u2", "mid@example.com", inOU("/Sales/EMEA")),
			usr("u3", "leaf@example.com", inOU("/SalesOps")),
			usr("u4", "none@example.com", inOU("/Engineering")),
			usr("u5", "susp@example.com", inOU("/Sales"), suspended),
			usr("u6", "arch@example.com", inOU("/Sales"), archived),
			usr("u7", "cyc1@example.com", inOU("/")),
			usr("u8", "cyc2@example.com", inOU("/Sales/EMEA/Paris")),
		},
		Groups: []store.Group{
			grp("gtop", "top-group@example.com"),
			grp("gmid", "mid-group@example.com"),
			grp("gleaf", "leaf-group@example.com"),
			grp("gc1", "cycle1@example.com"),
			grp("gc2", "cycle2@example.com"),
			grp("gall", "everyone@example.com"),
			grp("gwrap", "wrap@example.com"),
			grp("grule", "rule@example.com"),
			grp("gsub", "rule-sub@example.com"),
		},
		Members: map[string][]store.Member{
			"gtop":  {mu("u1"), mg("gmid"), mu("u5")},
			"gmid":  {mu("u2"), mg("gleaf"), mu("u6")},
			"gleaf": {mu("u3"), mu("nobody")},
			"gc1":   {mu("u7"), mg("gc2")},
			"gc2":   {mu("u8"), mg("gc1")},
			"gall":  {mc("C01")},
			"gwrap": {mg("gall")},
			"grule": {mu("u4"), mg("gsub"), mg("gtop")},
			"gsub":  {mu("u1")},
		},
	}
	snap.Groups[0].Aliases = []string{"top-alias@example.com"}
	allGroups := []string{"gall", "gc1", "gc2", "gleaf", "gmid", "grule", "gsub", "gtop", "gwrap"}

	const (
		susp    = "suspended (filter.include_suspended is false)"
		arch    = "archived (filter.include_archived is false)"
		notTop  = "not a member of [top-group@example.com]"
		notCyc  = "not a member of [cycle1@example.com]"
		notSale = "not in org units [/Sales]"
	)
	tests := []struct {
		name       string
		filter     Filter
		rules      []Rule
		wantUsers  []string          // ids in scope
		wantEx     map[string]string // id -> reason
		wantGroups []string          // ids in scope
		wantStats  store.FilterStats
		wantErr    string
	}{
		{
			name:       "no filter",
			wantUsers:  []string{"u1", "u2", "u3", "u4", "u7", "u8"},
			wantEx:     map[string]string{"u5": susp, "u6": arch},
			wantGroups: allGroups,
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 6, ExcludedSuspended: 1, ExcludedArchived: 1, GroupsFetched: 9, GroupsInScope: 9},
		},
		{
			name:       "include suspended and archived",
			filter:     Filter{IncludeSuspended: true, IncludeArchived: true},
			wantUsers:  []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"},
			wantEx:     map[string]string{},
			wantGroups: allGroups,
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 8, GroupsFetched: 9, GroupsInScope: 9},
		},
		{
			name:       "nested groups",
			filter:     Filter{Groups: []string{"top-group@example.com"}},
			wantUsers:  []string{"u1", "u2", "u3"},
			wantEx:     map[string]string{"u4": notTop, "u5": susp, "u6": arch, "u7": notTop, "u8": notTop},
			wantGroups: []string{"gleaf", "gmid", "gtop"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 3, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedGroup: 3, GroupsFetched: 9, GroupsInScope: 3},
		},
		{
			name:       "filter group by alias, any case",
			filter:     Filter{Groups: []string{"Top-Alias@Example.com"}},
			wantUsers:  []string{"u1", "u2", "u3"},
			wantEx:     map[string]string{"u4": "not a member of [Top-Alias@Example.com]", "u5": susp, "u6": arch, "u7": "not a member of [Top-Alias@Example.com]", "u8": "not a member of [Top-Alias@Example.com]"},
			wantGroups: []string{"gleaf", "gmid", "gtop"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 3, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedGroup: 3, GroupsFetched: 9, GroupsInScope: 3},
		},
		{
			name:       "cycle",
			filter:     Filter{Groups: []string{"cycle1@example.com"}},
			wantUsers:  []string{"u7", "u8"},
			wantEx:     map[string]string{"u1": notCyc, "u2": notCyc, "u3": notCyc, "u4": notCyc, "u5": susp, "u6": arch},
			wantGroups: []string{"gc1", "gc2"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 2, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedGroup: 4, GroupsFetched: 9, GroupsInScope: 2},
		},
		{
			name:       "customer member through nesting means every user",
			filter:     Filter{Groups: []string{"wrap@example.com"}},
			wantUsers:  []string{"u1", "u2", "u3", "u4", "u7", "u8"},
			wantEx:     map[string]string{"u5": susp, "u6": arch},
			wantGroups: []string{"gall", "gwrap"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 6, ExcludedSuspended: 1, ExcludedArchived: 1, GroupsFetched: 9, GroupsInScope: 2},
		},
		{
			name:       "org unit prefix on segment boundaries",
			filter:     Filter{OrgUnits: []string{"/Sales"}},
			wantUsers:  []string{"u1", "u2", "u8"},
			wantEx:     map[string]string{"u3": notSale, "u4": notSale, "u5": susp, "u6": arch, "u7": notSale},
			wantGroups: allGroups,
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 3, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedOrgUnit: 3, GroupsFetched: 9, GroupsInScope: 9},
		},
		{
			name:       "org unit with trailing slash, other case",
			filter:     Filter{OrgUnits: []string{"/sales/emea/"}},
			wantUsers:  []string{"u2", "u8"},
			wantEx:     map[string]string{"u1": "not in org units [/sales/emea/]", "u3": "not in org units [/sales/emea/]", "u4": "not in org units [/sales/emea/]", "u5": susp, "u6": arch, "u7": "not in org units [/sales/emea/]"},
			wantGroups: allGroups,
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 2, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedOrgUnit: 4, GroupsFetched: 9, GroupsInScope: 9},
		},
		{
			name:       "root org unit holds everyone",
			filter:     Filter{OrgUnits: []string{"/"}},
			wantUsers:  []string{"u1", "u2", "u3", "u4", "u7", "u8"},
			wantEx:     map[string]string{"u5": susp, "u6": arch},
			wantGroups: allGroups,
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 6, ExcludedSuspended: 1, ExcludedArchived: 1, GroupsFetched: 9, GroupsInScope: 9},
		},
		{
			name:       "org units and groups together",
			filter:     Filter{Groups: []string{"top-group@example.com"}, OrgUnits: []string{"/Sales", "/Engineering"}, IncludeSuspended: true},
			wantUsers:  []string{"u1", "u2", "u5"},
			wantEx:     map[string]string{"u3": "not in org units [/Sales, /Engineering]", "u4": notTop, "u6": arch, "u7": "not in org units [/Sales, /Engineering]", "u8": notTop},
			wantGroups: []string{"gleaf", "gmid", "gtop"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 3, ExcludedArchived: 1, ExcludedOrgUnit: 2, ExcludedGroup: 2, GroupsFetched: 9, GroupsInScope: 3},
		},
		{
			name:       "rule groups and their subgroups are in scope but bring no users",
			filter:     Filter{Groups: []string{"mid-group@example.com"}},
			rules:      []Rule{{Group: "rule@example.com", Privileges: []string{"admin"}}, {Group: "missing@example.com"}},
			wantUsers:  []string{"u2", "u3"},
			wantEx:     map[string]string{"u1": "not a member of [mid-group@example.com]", "u4": "not a member of [mid-group@example.com]", "u5": susp, "u6": arch, "u7": "not a member of [mid-group@example.com]", "u8": "not a member of [mid-group@example.com]"},
			wantGroups: []string{"gleaf", "gmid", "grule", "gsub", "gtop"},
			wantStats:  store.FilterStats{UsersFetched: 8, UsersInScope: 2, ExcludedSuspended: 1, ExcludedArchived: 1, ExcludedGroup: 4, GroupsFetched: 9, GroupsInScope: 5},
		},
		{
			name:    "missing filter group",
			filter:  Filter{Groups: []string{"top-group@example.com", "typo@example.com"}},
			wantErr: "filter group typo@example.com: no such group in the source",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FilterSnapshot(snap, tt.filter, tt.rules)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FilterSnapshot() error = %v, want %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("FilterSnapshot() returned a result with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var users, groups []string
			for _, u := range got.Snapshot.Users {
				users = append(users, u.ID)
			}
			for _, g := range got.Snapshot.Groups {
				groups = append(groups, g.ID)
			}
			slices.Sort(users)
			slices.Sort(groups)
			ex := make(map[string]string)
			for id, e := range got.Excluded {
				ex[id] = e.Reason
				if e.User.ID != id {
					t.Errorf("Excluded[%s].User.ID = %s", id, e.User.ID)
				}
			}
			if diff := cmp.Diff(users, tt.wantUsers); diff != "" {
				t.Errorf("users in scope (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(ex, tt.wantEx); diff != "" {
				t.Errorf("excluded (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(groups, tt.wantGroups); diff != "" {
				t.Errorf("groups in scope (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(got.Stats, tt.wantStats); diff != "" {
				t.Errorf("stats (-got +want):\n%s", diff)
			}
			// Every membership kept has both ends in scope.
			inUsers := func(id string) bool { return slices.Contains(users, id) }
			for gid, ms := range got.Snapshot.Members {
				if !slices.Contains(groups, gid) {
					t.Errorf("members kept for group %s out of scope", gid)
				}
				for _, m := range ms {
					if (m.Type == store.MemberUser && !inUsers(m.ID)) || (m.Type == store.MemberGroup && !slices.Contains(groups, m.ID)) || m.Type == store.MemberCustomer {
						t.Errorf("group %s keeps member %+v", gid, m)
					}
				}
			}
		})
	}
}

func TestFilterMembers(t *testing.T) {
	snap := &store.Snapshot{
		Users: []store.User{usr("u1", "a@example.com"), usr("u2", "b@example.com"), usr("u3", "c@example.com", suspended)},
		Groups: []store.Group{
			grp("g1", "one@example.com"), grp("g2", "two@example.com"), grp("g3", "three@example.com"),
		},
		Members: map[string][]store.Member{
			// customer-wide plus a direct member: expanded and deduplicated
			"g1": {mu("u1"), mc("C01"), mg("g2")},
			"g2": {mu("u3"), mu("u2"), mg("g3"), mu("gone")},
			"g3": {mg("g3")},
		},
	}
	got, err := FilterSnapshot(snap, Filter{Groups: []string{"two@example.com"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]store.Member{
		"g2": {{Type: store.MemberGroup, ID: "g3", Email: "three@example.com"}, {Type: store.MemberUser, ID: "u2", Email: "b@example.com"}},
	}
	if diff := cmp.Diff(got.Snapshot.Members, want); diff != "" {
		t.Errorf("members with group filter (-got +want):\n%s", diff)
	}

	got, err = FilterSnapshot(snap, Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]store.Member{
		"g1": {
			{Type: store.MemberGroup, ID: "g2", Email: "two@example.com"},
			{Type: store.MemberUser, ID: "u1", Email: "a@example.com"},
			{Type: store.MemberUser, ID: "u2", Email: "b@example.com"},
		},
		"g2": {{Type: store.MemberGroup, ID: "g3", Email: "three@example.com"}, {Type: store.MemberUser, ID: "u2", Email: "b@example.com"}},
	}
	if diff := cmp.Diff(got.Snapshot.Members, want); diff != "" {
		t.Errorf("members without filter (-got +want):\n%s", diff)
	}
}
