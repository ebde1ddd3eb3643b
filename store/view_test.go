package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestViewKeepsUsersWhole: the view copies the users' strings into shared
// chunks and their aliases into one slab; every field must come out as it
// went in, and one user's aliases must not reach into another's.
func TestViewKeepsUsersWhole(t *testing.T) {
	st := &State{Members: map[string][]Member{"g1": nil}, Groups: []Group{{ID: "g1", CN: "staff"}}}
	long := strings.Repeat("x", arenaMax+1) // left as it is
	for i := range 3000 {                   // several chunks' worth
		u := User{
			ID: fmt.Sprintf("id%05d", i), UID: fmt.Sprintf("user%05d", i), PrimaryEmail: fmt.Sprintf("user%05d@example.com", i),
			GivenName: "Given", FamilyName: fmt.Sprintf("Family %d", i), DisplayName: "Given Family", OrgUnitPath: "/Staff",
			SourceCreated: t0, Origin: OriginDirectory,
			POSIX: POSIXAccount{UID: uint32(5000 + i), HomeDirectory: fmt.Sprintf("/home/u%d", i), Shell: "/bin/zsh", Gecos: "G F"},
		}
		switch i % 3 {
		case 0:
			u.Aliases = []string{fmt.Sprintf("a%d@example.com", i), fmt.Sprintf("b%d@example.com", i)}
		case 1:
			u.Aliases = []string{fmt.Sprintf("c%d@example.com", i)}
		}
		if i == 7 {
			u.DisplayName = long
		}
		st.Users = append(st.Users, u)
		st.Members["g1"] = append(st.Members["g1"], Member{Type: MemberUser, ID: u.ID})
	}
	want := make([]User, len(st.Users))
	for i, u := range st.Users {
		want[i] = u
		want[i].Aliases = append([]string(nil), u.Aliases...)
	}
	v := NewView(st, nil, t1)
	if len(v.Users) != len(want) {
		t.Fatalf("%d users, want %d", len(v.Users), len(want))
	}
	for i := range want {
		u, ok := v.UserByID(want[i].ID)
		if !ok {
			t.Fatalf("no user %s", want[i].ID)
		}
		if d := cmp.Diff(want[i], u.User); d != "" {
			t.Fatalf("user %s (-want +got):\n%s", want[i].ID, d)
		}
	}
	// Appending to one user's aliases leaves the next user's alone.
	u0, _ := v.UserByID("id00000")
	_ = append(u0.Aliases, "intruder@example.com")
	u1, _ := v.UserByID("id00001")
	if d := cmp.Diff([]string{"c1@example.com"}, u1.Aliases); d != "" {
		t.Errorf("next user's aliases changed (-want +got):\n%s", d)
	}
	// Lookups by the copied strings still work.
	if u, ok := v.UserByMail("B2997@example.com"); !ok || u.UID != "user02997" {
		t.Errorf("by alias: %v, %v", u, ok)
	}
	if g, _ := v.GroupByID("g1"); len(g.MemberUsers) != len(want) {
		t.Errorf("group has %d members, want %d", len(g.MemberUsers), len(want))
	}
}
