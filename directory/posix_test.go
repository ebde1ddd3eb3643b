package directory

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
)

func newPOSIXDirectory(tb testing.TB, p POSIX, ad bool) *Directory {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.POSIX = p
	cfg.ActiveDirectory = ad
	d, err := NewDirectory(cfg, testLive(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestPOSIXAttributes(t *testing.T) {
	d := newPOSIXDirectory(t, POSIX{Enabled: true, HomeDirectory: "/srv/home/{domain}/{local}"}, false)
	es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(uid=alice)")})
	if err != nil || len(es) != 1 {
		t.Fatalf("%v %v", es, err)
	}
	m := attrMap(es[0])
	uidNum := formatUint(preferredNumber("user", aliceID, DefaultPOSIXMin, DefaultPOSIXMax))
	want := map[string][]string{
		"objectClass":   {"top", "person", "organizationalPerson", "inetOrgPerson", "posixAccount", "shadowAccount"},
		"uidNumber":     {uidNum},
		"gidNumber":     {uidNum}, // user private group
		"homeDirectory": {"/srv/home/example.com/alice"},
		"loginShell":    {"/bin/bash"},
		"gecos":         {"Alice Liddell"},
	}
	for k, v := range want {
		if diff := cmp.Diff(m[k], v); diff != "" {
			t.Errorf("%s (-got +want):\n%s", k, diff)
		}
	}
	if _, ok := m["shadowExpire"]; ok {
		t.Error("enabled user has shadowExpire")
	}

	tests := []struct {
		filter string
		want   []string
	}{
		{"(uidNumber=" + uidNum + ")", []string{aliceDN}},
		{"(&(objectClass=posixAccount)(uid=bob)(shadowExpire=1))", []string{"uid=bob,ou=people,dc=example,dc=com"}},
		// memberUid holds nested members too.
		{"(&(objectClass=posixGroup)(memberUid=alice))", []string{devsDN, engDN, staffDN}},
		{"(&(objectClass=posixGroup)(memberUid=carol))", []string{staffDN}},
		{"(&(objectClass=groupOfNames)(objectClass=posixGroup)(cn=eng))", []string{engDN}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, tt.filter), Attributes: []string{"1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(dns(es), tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
	es, _ = searchAll(t, d, serviceID, &SearchRequest{BaseDN: staffDN, Scope: ScopeBase, Attributes: []string{"memberUid", "gidNumber"}})
	m = attrMap(es[0])
	if diff := cmp.Diff(m["memberUid"], []string{"alice", "bob", "carol"}); diff != "" {
		t.Errorf("memberUid (-got +want):\n%s", diff)
	}
	if len(m["gidNumber"]) != 1 || m["gidNumber"][0] == uidNum {
		t.Errorf("gidNumber %v", m["gidNumber"])
	}

	// Without POSIX, none of it.
	d0, _ := newTestDirectory(t)
	es, _ = searchAll(t, d0, serviceID, &SearchRequest{BaseDN: aliceDN, Scope: ScopeBase, Attributes: []string{"*", "+"}})
	for _, a := range es[0].Attributes {
		if a.Name == "uidNumber" || a.Name == "sAMAccountName" || slices.Contains(a.Values, "posixAccount") {
			t.Errorf("POSIX/AD attribute without the option: %v", a)
		}
	}
}

func TestPOSIXPrimaryGID(t *testing.T) {
	d := newPOSIXDirectory(t, POSIX{Enabled: true, PrimaryGID: 5000, LoginShell: "/usr/bin/zsh"}, false)
	es, _ := searchAll(t, d, serviceID, &SearchRequest{BaseDN: aliceDN, Scope: ScopeBase, Attributes: []string{"gidNumber", "loginShell", "homeDirectory"}})
	want := map[string][]string{"gidNumber": {"5000"}, "loginShell": {"/usr/bin/zsh"}, "homeDirectory": {"/home/alice"}}
	if diff := cmp.Diff(attrMap(es[0]), want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// The numbers stay unique in a crowded range, and users already there keep
// theirs when new ones arrive, whatever their ids.
func TestPOSIXNumbersStable(t *testing.T) {
	p := POSIX{Enabled: true, UIDMin: 1000, UIDMax: 1039, GIDMin: 1000, GIDMax: 1039}.withDefaults()
	st := &store.State{}
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		st.Users = append(st.Users, store.User{ID: fmt.Sprintf("u%03d", i*7%25), UID: fmt.Sprintf("user%d", i),
			CreatedAt: day.Add(time.Duration(i%3) * time.Hour)})
	}
	for i := range 5 {
		st.Groups = append(st.Groups, store.Group{ID: fmt.Sprintf("g%d", i), CN: fmt.Sprintf("group%d", i), CreatedAt: day})
	}
	uids, gids := posixNumbers(store.NewView(st, nil, day), &p)
	unique := func(uids, gids map[string]uint32) {
		t.Helper()
		seen := map[uint32]string{}
		for _, m := range []map[string]uint32{uids, gids} {
			for id, n := range m {
				if n < 1000 || n > 1039 {
					t.Errorf("%s: %d out of range", id, n)
				}
				if prev, dup := seen[n]; dup {
					t.Errorf("%s and %s both have %d", prev, id, n)
				}
				seen[n] = id
			}
		}
	}
	unique(uids, gids)
	if len(uids) != 25 || len(gids) != 5 {
		t.Fatalf("%d uids, %d gids", len(uids), len(gids))
	}
	// Ten newer users, with ids sorting before and after the others.
	st2 := *st
	st2.Users = slices.Clone(st.Users)
	for i := range 10 {
		st2.Users = append(st2.Users, store.User{ID: fmt.Sprintf("%c-new", 'a'+i*2), UID: fmt.Sprintf("new%d", i), CreatedAt: day.Add(24 * time.Hour)})
	}
	uids2, gids2 := posixNumbers(store.NewView(&st2, nil, day), &p)
	unique(uids2, gids2)
	for id, n := range uids {
		if uids2[id] != n {
			t.Errorf("user %s moved from %d to %d", id, n, uids2[id])
		}
	}
	for id, n := range gids {
		if gids2[id] != n {
			t.Errorf("group %s moved from %d to %d", id, n, gids2[id])
		}
	}
	// The same input gives the same numbers.
	uids3, _ := posixNumbers(store.NewView(&st2, nil, day), &p)
	if diff := cmp.Diff(uids3, uids2); diff != "" {
		t.Errorf("not deterministic (-got +want):\n%s", diff)
	}
}

func TestPOSIXValidate(t *testing.T) {
	for _, p := range []POSIX{
		{UIDMin: 0, UIDMax: 5000, GIDMin: 1000, GIDMax: 5000},
		{UIDMin: 1000, UIDMax: 1500},
		{UIDMin: 1000, UIDMax: ^uint32(0)},
		{HomeDirectory: "home/{uid}"},
		{HomeDirectory: "/home/{user}"},
		{LoginShell: "bash"},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := (POSIX{HomeDirectory: "/home/{domain}/{local}"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestActiveDirectoryView(t *testing.T) {
	d := newPOSIXDirectory(t, POSIX{}, true)
	tests := []struct {
		filter string
		want   []string
	}{
		{"(sAMAccountName=alice)", []string{aliceDN}},
		{"(userPrincipalName=alice@example.com)", []string{aliceDN}},
		// Enabled users, as AD clients ask.
		{"(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))", []string{aliceDN, "uid=carol,ou=people,dc=example,dc=com"}},
		{"(&(objectCategory=person)(userAccountControl:1.2.840.113556.1.4.804:=6))", []string{}},
		{"(userAccountControl:1.2.840.113556.1.4.804:=6)", []string{"uid=bob,ou=people,dc=example,dc=com", "uid=dave,ou=people,dc=example,dc=com"}},
		{"(&(objectClass=group)(sAMAccountName=login))", []string{loginDN}},
		{"(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=" + aliceDN + "))", []string{devsDN, engDN, staffDN, loginDN, readOwnDN}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, tt.filter), Attributes: []string{"1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(dns(es), tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
	es, _ := searchAll(t, d, serviceID, &SearchRequest{BaseDN: aliceDN, Scope: ScopeBase, Attributes: []string{"objectClass", "structuralObjectClass", "sAMAccountName", "userPrincipalName", "userAccountControl"}})
	want := map[string][]string{
		"objectClass":           {"top", "person", "organizationalPerson", "inetOrgPerson", "user"},
		"structuralObjectClass": {"inetOrgPerson"},
		"sAMAccountName":        {"alice"},
		"userPrincipalName":     {"alice@example.com"},
		"userAccountControl":    {"512"},
	}
	if diff := cmp.Diff(attrMap(es[0]), want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// The subschema knows the POSIX and AD classes the entries carry.
func TestSubschemaPOSIXAndAD(t *testing.T) {
	d := newPOSIXDirectory(t, POSIX{Enabled: true}, true)
	classes := map[string]bool{}
	for _, o := range schemaObjectClasses {
		classes[o.name] = true
	}
	tr := d.trees.get(d.live)
	for i := range tr.entries {
		e := &tr.entries[i]
		a, _ := e.attr(atObjectClass)
		it := a.vals()
		for v, ok := it.next(); ok; v, ok = it.next() {
			if !classes[v] {
				t.Errorf("%s: class %s not in the subschema", e.dn, v)
			}
		}
	}
}

// Google's posixAccounts numbers are served as they are; derived numbers
// never take one of them; of two users with one Google uid the first in
// store order keeps it.
func TestPOSIXGoogleNumbers(t *testing.T) {
	p := POSIX{Enabled: true}.withDefaults()
	carolWants := preferredNumber("user", carolID, p.UIDMin, p.UIDMax)
	staffWants := preferredNumber("group", staffID, p.GIDMin, p.GIDMax)
	st := testState()
	for i := range st.Users {
		switch u := &st.Users[i]; u.ID {
		case aliceID: // Google's uid is carol's preferred number; Google's gid, home, shell, gecos
			u.POSIX = store.POSIXAccount{UID: carolWants, GID: 100, HomeDirectory: "/nfs/alice", Shell: "/bin/zsh", Gecos: "Alice L."}
		case bobID: // the same uid as alice: alice came first (same time, smaller id)
			u.POSIX = store.POSIXAccount{UID: carolWants, GID: 101, HomeDirectory: "/nfs/bob"}
		case daveID: // outside the range; Google's gid is staff's preferred number
			u.POSIX = store.POSIXAccount{UID: 1001, GID: staffWants}
		}
	}
	live := &store.Live{}
	live.Store(store.NewView(st, []string{"login", "read-own-archive", "admin"}, t1))
	cfg := testConfig(t)
	cfg.POSIX = POSIX{Enabled: true}
	d, err := NewDirectory(cfg, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(dn string) map[string][]string {
		t.Helper()
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: dn, Scope: ScopeBase,
			Attributes: []string{"uidNumber", "gidNumber", "homeDirectory", "loginShell", "gecos"}})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: %v %v", dn, es, err)
		}
		return attrMap(es[0])
	}
	n := formatUint
	want := map[string][]string{"uidNumber": {n(carolWants)}, "gidNumber": {"100"},
		"homeDirectory": {"/nfs/alice"}, "loginShell": {"/bin/zsh"}, "gecos": {"Alice L."}}
	if diff := cmp.Diff(get(aliceDN), want); diff != "" {
		t.Errorf("alice (-got +want):\n%s", diff)
	}
	dave := get("uid=dave,ou=people,dc=example,dc=com")
	if diff := cmp.Diff(dave["uidNumber"], []string{"1001"}); diff != "" {
		t.Errorf("dave's uidNumber (-got +want):\n%s", diff)
	}
	bob := get("uid=bob,ou=people,dc=example,dc=com")
	bobWants := preferredNumber("user", bobID, p.UIDMin, p.UIDMax)
	// bob lost the clash: derived numbers (user private group), Google's home.
	want = map[string][]string{"uidNumber": {n(bobWants)}, "gidNumber": {n(bobWants)},
		"homeDirectory": {"/nfs/bob"}, "loginShell": {"/bin/bash"}, "gecos": {"Bob Builder"}}
	if diff := cmp.Diff(bob, want); diff != "" {
		t.Errorf("bob (-got +want):\n%s", diff)
	}
	carol := get("uid=carol,ou=people,dc=example,dc=com")
	if got := carol["uidNumber"]; len(got) != 1 || got[0] == n(carolWants) || got[0] == "1001" {
		t.Errorf("carol's uidNumber %v: must not be one of Google's (%d, 1001)", got, carolWants)
	}
	es, _ := searchAll(t, d, serviceID, &SearchRequest{BaseDN: staffDN, Scope: ScopeBase, Attributes: []string{"gidNumber"}})
	if got := attrMap(es[0])["gidNumber"]; len(got) != 1 || got[0] == n(staffWants) {
		t.Errorf("staff's gidNumber %v: must not be dave's Google gid %d", got, staffWants)
	}
	es, _ = searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub,
		Filter: mustFilter(t, "(uidNumber="+n(carolWants)+")"), Attributes: []string{"1.1"}})
	if diff := cmp.Diff(dns(es), []string{aliceDN}); diff != "" {
		t.Errorf("search by Google's uidNumber (-got +want):\n%s", diff)
	}

	clashes := posixUIDClashes(live.Load())
	if len(clashes) != 1 || !strings.Contains(clashes[0], "user "+bobID) || !strings.Contains(clashes[0], aliceID) {
		t.Errorf("clashes %q, want one: bob's uid is alice's", clashes)
	}
}

// In a crowded range, derived numbers go around Google's, and every number
// stays unique.
func TestPOSIXNumbersAroundGoogle(t *testing.T) {
	p := POSIX{Enabled: true, UIDMin: 1000, UIDMax: 1009, GIDMin: 1000, GIDMax: 1009}.withDefaults()
	st := &store.State{}
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		u := store.User{ID: fmt.Sprintf("u%d", i), UID: fmt.Sprintf("user%d", i), CreatedAt: day}
		if i%2 == 0 { // users 0, 2, 4 have Google's 1000-1002; user 4 also a Google gid 1003
			u.POSIX = store.POSIXAccount{UID: uint32(1000 + i/2)}
		}
		if i == 4 {
			u.POSIX.GID = 1003
		}
		st.Users = append(st.Users, u)
	}
	st.Groups = []store.Group{{ID: "g0", CN: "g0", CreatedAt: day}}
	uids, gids := posixNumbers(store.NewView(st, nil, day), &p)
	for i := 0; i < 6; i += 2 {
		if got, want := uids[fmt.Sprintf("u%d", i)], uint32(1000+i/2); got != want {
			t.Errorf("u%d: %d, want Google's %d", i, got, want)
		}
	}
	seen := map[uint32]string{}
	for _, m := range []map[string]uint32{uids, gids} {
		for id, n := range m {
			if prev, dup := seen[n]; dup {
				t.Errorf("%s and %s both have %d", prev, id, n)
			}
			seen[n] = id
		}
	}
	for _, id := range []string{"u1", "u3", "u5", "g0"} {
		n, ok := uids[id]
		if id == "g0" {
			n, ok = gids[id]
		}
		if !ok || n <= 1003 {
			t.Errorf("%s: %d (%v), want a derived number above Google's 1000-1003", id, n, ok)
		}
	}
}
