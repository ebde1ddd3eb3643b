package ldapserver

import (
	"fmt"
	"slices"
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
	for _, e := range d.trees.get(d.live).entries {
		for _, v := range e.attr(atObjectClass).vals {
			if !classes[v] {
				t.Errorf("%s: class %s not in the subschema", e.dn, v)
			}
		}
	}
}
