package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ldapgate/ldapgate/store"
)

func TestTreeLayout(t *testing.T) {
	tr, _ := testTree(t)
	want := []string{
		"dc=example,dc=com",
		"ou=people,dc=example,dc=com",
		"uid=alice,ou=people,dc=example,dc=com",
		"uid=bob,ou=people,dc=example,dc=com",
		"uid=carol,ou=people,dc=example,dc=com",
		"uid=dave,ou=people,dc=example,dc=com",
		"ou=groups,dc=example,dc=com",
		"cn=devs,ou=groups,dc=example,dc=com",
		"cn=eng,ou=groups,dc=example,dc=com",
		"cn=staff,ou=groups,dc=example,dc=com",
		"ou=privileges,dc=example,dc=com",
		"cn=admin,ou=privileges,dc=example,dc=com",
		"cn=login,ou=privileges,dc=example,dc=com",
		"cn=read-own-archive,ou=privileges,dc=example,dc=com",
		"ou=services,dc=example,dc=com",
		"cn=archive,ou=services,dc=example,dc=com",
		"cn=backup,ou=services,dc=example,dc=com",
	}
	var got []string
	for i, e := range tr.entries {
		got = append(got, e.dn)
		if int(e.pos) != i {
			t.Errorf("%s: pos %d, want %d", e.dn, e.pos, i)
		}
		// The normal form built with the entry is what normDN gives.
		if n, err := normDN(e.dn); err != nil || n != e.ndn {
			t.Errorf("%s: ndn %q, normDN %q (%v)", e.dn, e.ndn, n, err)
		}
		if e.end <= e.pos || int(e.end) > len(tr.entries) {
			t.Errorf("%s: bad subtree range [%d,%d)", e.dn, e.pos, e.end)
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("entries (-got +want):\n%s", diff)
	}
}

func TestEntries(t *testing.T) {
	d, _ := newTestDirectory(t)
	get := func(dn string) map[string][]string {
		t.Helper()
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: dn, Scope: ScopeBase, Attributes: []string{"*", "+"}})
		if err != nil || len(es) != 1 {
			t.Fatalf("search %s: %d entries, %v", dn, len(es), err)
		}
		return attrMap(es[0])
	}
	id := func(name string) []string {
		return []string{uuid.NewSHA1(uuid.NameSpaceURL, []byte("ldapgate:"+name)).String()}
	}
	tests := []struct {
		dn   string
		want map[string][]string
	}{
		{aliceDN, map[string][]string{
			"objectClass":           {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":                   {"alice"},
			"cn":                    {"Alice Liddell"},
			"sn":                    {"Liddell"},
			"givenName":             {"Alice"},
			"displayName":           {"Alice Liddell"},
			"mail":                  {"alice@example.com"},
			"mailAlternateAddress":  {"a.liddell@example.com", "alice@alias.example.org"},
			"ou":                    {"/Staff/Engineering"},
			"accountStatus":         {"active"},
			"memberOf":              {devsDN, engDN, staffDN, loginDN, readOwnDN},
			"structuralObjectClass": {"inetOrgPerson"},
			"entryUUID":             id("user:" + aliceID),
			"entryDN":               {aliceDN},
			"createTimestamp":       {"20240102030405Z"},
			"modifyTimestamp":       {"20240601120000Z"},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{"uid=bob,ou=people,dc=example,dc=com", map[string][]string{
			"objectClass":           {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":                   {"bob"},
			"cn":                    {"Bob Builder"},
			"sn":                    {"Builder"},
			"givenName":             {"Bob"},
			"displayName":           {"Bob Builder"},
			"mail":                  {"bob@example.com"},
			"accountStatus":         {"suspended"},
			"memberOf":              {engDN, staffDN, loginDN},
			"structuralObjectClass": {"inetOrgPerson"},
			"entryUUID":             id("user:" + bobID),
			"entryDN":               {"uid=bob,ou=people,dc=example,dc=com"},
			"createTimestamp":       {"20240102030405Z"},
			"modifyTimestamp":       {"20240102030405Z"},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{"uid=dave,ou=people,dc=example,dc=com", map[string][]string{
			"objectClass":           {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":                   {"dave"},
			"cn":                    {"dave"},
			"sn":                    {"dave"},
			"mail":                  {"dave@example.com"},
			"accountStatus":         {"archived"},
			"structuralObjectClass": {"inetOrgPerson"},
			"entryUUID":             id("user:" + daveID),
			"entryDN":               {"uid=dave,ou=people,dc=example,dc=com"},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{staffDN, map[string][]string{
			"objectClass":           {"top", "groupOfNames"},
			"cn":                    {"staff"},
			"mail":                  {"staff@example.com"},
			"description":           {"All staff"},
			"member":                {"uid=carol,ou=people,dc=example,dc=com", engDN},
			"structuralObjectClass": {"groupOfNames"},
			"entryUUID":             id("group:" + staffID),
			"entryDN":               {staffDN},
			"createTimestamp":       {"20240102030405Z"},
			"modifyTimestamp":       {"20240601120000Z"},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{devsDN, map[string][]string{
			"objectClass":           {"top", "groupOfNames"},
			"cn":                    {"devs"},
			"mail":                  {"devs@example.com"},
			"member":                {aliceDN},
			"memberOf":              {engDN, staffDN},
			"structuralObjectClass": {"groupOfNames"},
			"entryUUID":             id("group:" + devsID),
			"entryDN":               {devsDN},
			"createTimestamp":       {"20240102030405Z"},
			"modifyTimestamp":       {"20240102030405Z"},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{loginDN, map[string][]string{
			"objectClass":           {"top", "groupOfNames"},
			"cn":                    {"login"},
			"member":                {aliceDN, "uid=bob,ou=people,dc=example,dc=com"},
			"structuralObjectClass": {"groupOfNames"},
			"entryUUID":             id("privilege:login"),
			"entryDN":               {loginDN},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{archiveDN, map[string][]string{
			"objectClass":           {"top", "applicationProcess"},
			"cn":                    {"archive"},
			"structuralObjectClass": {"applicationProcess"},
			"entryUUID":             id("service:archive"),
			"entryDN":               {archiveDN},
			"hasSubordinates":       {"FALSE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{testBase, map[string][]string{
			"objectClass":           {"top", "domain"},
			"dc":                    {"example"},
			"structuralObjectClass": {"domain"},
			"entryUUID":             id("entry:dc=example,dc=com"),
			"entryDN":               {testBase},
			"hasSubordinates":       {"TRUE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
		{"ou=people,dc=example,dc=com", map[string][]string{
			"objectClass":           {"top", "organizationalUnit"},
			"ou":                    {"people"},
			"structuralObjectClass": {"organizationalUnit"},
			"entryUUID":             id("entry:ou=people,dc=example,dc=com"),
			"entryDN":               {"ou=people,dc=example,dc=com"},
			"hasSubordinates":       {"TRUE"},
			"subschemaSubentry":     {"cn=Subschema"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dn, func(t *testing.T) {
			if diff := cmp.Diff(get(tt.dn), tt.want); diff != "" {
				t.Errorf("attributes (-got +want):\n%s", diff)
			}
		})
	}
}

// No entry may ever carry a password hash, whatever is asked for.
func TestNoSecretsInEntries(t *testing.T) {
	d, _ := newTestDirectory(t)
	a, b := testHashes(t)
	for _, attrs := range [][]string{nil, {"*", "+"}, {"userPassword", "authPassword", "password_hash", "passwordHash"}} {
		for _, base := range []string{"", testBase, subschemaDN} {
			scope := ScopeSub
			if base == "" {
				scope = ScopeBase
			}
			es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: base, Scope: scope, Attributes: attrs})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				for _, at := range e.Attributes {
					for _, v := range at.Values {
						if v == a || v == b || strings.Contains(v, "$argon2") || strings.Contains(v, "$2a$") || strings.Contains(v, "secret") {
							t.Errorf("%s %s holds a secret: %q", e.DN, at.Name, v)
						}
					}
				}
			}
		}
	}
}

func TestSearch(t *testing.T) {
	d, _ := newTestDirectory(t)
	tests := []struct {
		name string
		req  SearchRequest
		want []string
		code ResultCode
	}{
		{"by mail", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(mail=ALICE@example.com)")},
			[]string{aliceDN}, ResultSuccess},
		{"by alias", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(|(mail=alice@alias.example.org)(mailAlternateAddress=alice@alias.example.org))")},
			[]string{aliceDN}, ResultSuccess},
		{"person and mail", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(&(objectClass=person)(mail=staff@example.com))")},
			nil, ResultSuccess},
		{"group by mail", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(mail=staff@example.com)")},
			[]string{staffDN}, ResultSuccess},
		{"members of nested group", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(memberOf=CN=Staff,OU=Groups,DC=example,DC=com)")},
			[]string{aliceDN, "uid=bob,ou=people,dc=example,dc=com", "uid=carol,ou=people,dc=example,dc=com", devsDN, engDN}, ResultSuccess},
		{"groups with member", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(member=UID=Alice, OU=People,DC=example,DC=com)")},
			[]string{devsDN, loginDN, readOwnDN}, ResultSuccess},
		{"scope base", SearchRequest{BaseDN: "OU=People,DC=Example,DC=Com", Scope: ScopeBase},
			[]string{"ou=people,dc=example,dc=com"}, ResultSuccess},
		{"scope one", SearchRequest{BaseDN: testBase, Scope: ScopeOne},
			[]string{"ou=people,dc=example,dc=com", "ou=groups,dc=example,dc=com", "ou=privileges,dc=example,dc=com", "ou=services,dc=example,dc=com"}, ResultSuccess},
		{"scope one people", SearchRequest{BaseDN: "ou=people," + testBase, Scope: ScopeOne, Filter: mustFilter(t, "(accountStatus=active)")},
			[]string{aliceDN, "uid=carol,ou=people,dc=example,dc=com"}, ResultSuccess},
		{"scope sub groups", SearchRequest{BaseDN: "ou=groups," + testBase, Scope: ScopeSub},
			[]string{"ou=groups,dc=example,dc=com", devsDN, engDN, staffDN}, ResultSuccess},
		{"indexed filter outside scope", SearchRequest{BaseDN: "ou=groups," + testBase, Scope: ScopeSub, Filter: mustFilter(t, "(uid=alice)")},
			nil, ResultSuccess},
		{"indexed filter scope base", SearchRequest{BaseDN: aliceDN, Scope: ScopeBase, Filter: mustFilter(t, "(objectClass=person)")},
			[]string{aliceDN}, ResultSuccess},
		{"indexed filter scope one", SearchRequest{BaseDN: testBase, Scope: ScopeOne, Filter: mustFilter(t, "(objectClass=organizationalUnit)")},
			[]string{"ou=people,dc=example,dc=com", "ou=groups,dc=example,dc=com", "ou=privileges,dc=example,dc=com", "ou=services,dc=example,dc=com"}, ResultSuccess},
		{"absolute false", SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(|)")}, nil, ResultSuccess},
		{"undefined not", SearchRequest{BaseDN: "ou=people," + testBase, Scope: ScopeOne, Filter: mustFilter(t, "(!(foo=x))")}, nil, ResultSuccess},
		{"size limit", SearchRequest{BaseDN: "ou=people," + testBase, Scope: ScopeOne, SizeLimit: 2},
			[]string{aliceDN, "uid=bob,ou=people,dc=example,dc=com"}, ResultSizeLimitExceeded},
		{"size limit not reached", SearchRequest{BaseDN: "ou=people," + testBase, Scope: ScopeOne, SizeLimit: 4},
			[]string{aliceDN, "uid=bob,ou=people,dc=example,dc=com", "uid=carol,ou=people,dc=example,dc=com", "uid=dave,ou=people,dc=example,dc=com"}, ResultSuccess},
		{"no such object", SearchRequest{BaseDN: "uid=nobody,ou=people," + testBase, Scope: ScopeBase}, nil, ResultNoSuchObject},
		{"outside the tree", SearchRequest{BaseDN: "dc=other,dc=org", Scope: ScopeSub}, nil, ResultNoSuchObject},
		{"invalid DN", SearchRequest{BaseDN: "this is not a DN", Scope: ScopeSub}, nil, ResultInvalidDNSyntax},
		{"bad scope", SearchRequest{BaseDN: testBase, Scope: 7}, nil, ResultProtocolError},
		{"root subtree", SearchRequest{BaseDN: "", Scope: ScopeSub}, nil, ResultNoSuchObject},
		{"subschema", SearchRequest{BaseDN: "CN=SUBSCHEMA", Scope: ScopeBase}, []string{subschemaDN}, ResultSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := searchAll(t, d, serviceID, &tt.req)
			if code := resultCode(err); code != tt.code {
				t.Fatalf("result %v (%v), want %v", code, err, tt.code)
			}
			if diff := cmp.Diff(dns(es), tt.want, cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal([]string(a), []string(b)) })); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSearchMatchedDN(t *testing.T) {
	d, _ := newTestDirectory(t)
	for base, want := range map[string]string{
		"uid=nobody,ou=people,dc=example,dc=com":     "ou=people,dc=example,dc=com",
		"cn=x,uid=alice,ou=people,dc=example,dc=com": aliceDN,
		"ou=nowhere,dc=example,dc=com":               testBase,
		"dc=other,dc=org":                            "",
	} {
		_, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: base, Scope: ScopeBase})
		var le *Error
		if !errors.As(err, &le) || le.Code != ResultNoSuchObject || le.MatchedDN != want {
			t.Errorf("base %s: %v, want noSuchObject with matchedDN %q", base, err, want)
		}
	}
}

func TestSearchServerSizeLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.SizeLimit = 3
	d, err := NewDirectory(cfg, testLive(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []int{0, 5, 3} {
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, SizeLimit: client})
		if len(es) != 3 || resultCode(err) != ResultSizeLimitExceeded {
			t.Errorf("client limit %d: %d entries, %v; want 3 and sizeLimitExceeded", client, len(es), err)
		}
	}
	es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, SizeLimit: 1})
	if len(es) != 1 || resultCode(err) != ResultSizeLimitExceeded {
		t.Errorf("client limit 1: %d entries, %v", len(es), err)
	}
}

func TestSearchAttributes(t *testing.T) {
	d, _ := newTestDirectory(t)
	names := func(attrs []string, typesOnly bool) ([]string, bool) {
		t.Helper()
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: archiveDN, Scope: ScopeBase, Attributes: attrs, TypesOnly: typesOnly})
		if err != nil || len(es) != 1 {
			t.Fatalf("%d entries, %v", len(es), err)
		}
		var out []string
		hasValues := false
		for _, a := range es[0].Attributes {
			out = append(out, a.Name)
			hasValues = hasValues || len(a.Values) > 0
		}
		return out, hasValues
	}
	user := []string{"objectClass", "cn"}
	oper := []string{"entryUUID", "entryDN", "structuralObjectClass", "hasSubordinates", "subschemaSubentry"}
	tests := []struct {
		attrs []string
		want  []string
	}{
		{nil, user},
		{[]string{"*"}, user},
		{[]string{"+"}, oper},
		{[]string{"*", "+"}, append(append([]string{}, user...), oper...)},
		{[]string{"1.1"}, nil},
		{[]string{"1.1", "CN"}, []string{"cn"}},
		{[]string{"commonName", "ENTRYdn"}, []string{"cn", "entryDN"}},
		{[]string{"*", "entryUUID"}, []string{"objectClass", "cn", "entryUUID"}},
		{[]string{"unknown", "cn;lang-de"}, nil},
		{[]string{"OBJECTCLASS"}, []string{"objectClass"}},
	}
	for _, tt := range tests {
		got, hasValues := names(tt.attrs, false)
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("attributes %q (-got +want):\n%s", tt.attrs, diff)
		}
		if len(got) > 0 && !hasValues {
			t.Errorf("attributes %q: no values", tt.attrs)
		}
	}
	got, hasValues := names([]string{"*"}, true)
	if diff := cmp.Diff(got, user); diff != "" || hasValues {
		t.Errorf("types only: %v (values %v); (-got +want):\n%s", got, hasValues, diff)
	}
}

func TestRootDSE(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		ext  []string
		sasl []string
	}{
		{"plain", func(c *Config) { c.SASLMechanisms = nil }, []string{oidWhoAmI}, nil},
		{"starttls", func(c *Config) { c.Extensions = []string{oidStartTLS, oidWhoAmI} }, []string{oidStartTLS, oidWhoAmI}, []string{"EXTERNAL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.cfg(&cfg)
			d, err := NewDirectory(cfg, testLive(), nil)
			if err != nil {
				t.Fatal(err)
			}
			get := func(attrs ...string) map[string][]string {
				es, err := searchAll(t, d, Identity{}, &SearchRequest{BaseDN: "", Scope: ScopeBase, Attributes: attrs})
				if err != nil || len(es) != 1 || es[0].DN != "" {
					t.Fatalf("RootDSE: %v, %v", es, err)
				}
				return attrMap(es[0])
			}
			if diff := cmp.Diff(get(), map[string][]string{"objectClass": {"top"}}); diff != "" {
				t.Errorf("RootDSE * (-got +want):\n%s", diff)
			}
			want := map[string][]string{
				"namingContexts":       {testBase},
				"supportedLDAPVersion": {"3"},
				"supportedFeatures":    {oidAllOperational, oidTrueFalseFilters},
				"vendorName":           {"ldapgate"},
				"vendorVersion":        {testVendorVers},
				"subschemaSubentry":    {"cn=Subschema"},
				"supportedControl":     {oidPagedResults, oidSortRequest},
			}
			if tc.ext != nil {
				want["supportedExtension"] = tc.ext
			}
			if tc.sasl != nil {
				want["supportedSASLMechanisms"] = tc.sasl
			}
			if diff := cmp.Diff(get("+"), want); diff != "" {
				t.Errorf("RootDSE + (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(get("namingcontexts", "vendorName"), map[string][]string{
				"namingContexts": {testBase}, "vendorName": {"ldapgate"},
			}); diff != "" {
				t.Errorf("RootDSE by name (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAccessRules(t *testing.T) {
	d, _ := newTestDirectory(t)
	alice := Identity{Kind: IdentityUser, DN: aliceDN, Name: "alice", UserID: aliceID}
	tests := []struct {
		name    string
		id      Identity
		base    string
		scope   Scope
		want    []string
		code    ResultCode
		matched string
	}{
		{"anonymous RootDSE", Identity{}, "", ScopeBase, []string{""}, ResultSuccess, ""},
		{"anonymous subschema", Identity{}, subschemaDN, ScopeBase, []string{subschemaDN}, ResultSuccess, ""},
		{"anonymous base", Identity{}, testBase, ScopeSub, nil, ResultInsufficientAccessRights, ""},
		{"anonymous entry", Identity{}, aliceDN, ScopeBase, nil, ResultInsufficientAccessRights, ""},
		{"anonymous missing", Identity{}, "dc=other", ScopeBase, nil, ResultInsufficientAccessRights, ""},
		{"anonymous bad DN", Identity{}, "garbage", ScopeBase, nil, ResultInsufficientAccessRights, ""},
		{"anonymous root subtree", Identity{}, "", ScopeSub, nil, ResultInsufficientAccessRights, ""},
		{"service reads all", serviceID, "ou=people," + testBase, ScopeOne,
			[]string{aliceDN, "uid=bob,ou=people,dc=example,dc=com", "uid=carol,ou=people,dc=example,dc=com", "uid=dave,ou=people,dc=example,dc=com"}, ResultSuccess, ""},
		{"user sees only self", alice, testBase, ScopeSub, []string{aliceDN}, ResultSuccess, ""},
		{"user self base", alice, aliceDN, ScopeBase, []string{aliceDN}, ResultSuccess, ""},
		{"user other entry hidden", alice, "uid=bob,ou=people,dc=example,dc=com", ScopeBase, nil, ResultNoSuchObject, "ou=people,dc=example,dc=com"},
		{"user groups hidden", alice, "ou=groups,dc=example,dc=com", ScopeSub, nil, ResultNoSuchObject, testBase},
		{"user below other hidden", alice, "cn=x,cn=staff,ou=groups,dc=example,dc=com", ScopeSub, nil, ResultNoSuchObject, testBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := searchAll(t, d, tt.id, &SearchRequest{BaseDN: tt.base, Scope: tt.scope, Attributes: []string{"1.1"}})
			if code := resultCode(err); code != tt.code {
				t.Fatalf("result %v (%v), want %v", code, err, tt.code)
			}
			var le *Error
			if errors.As(err, &le) && le.MatchedDN != tt.matched {
				t.Errorf("matchedDN %q, want %q", le.MatchedDN, tt.matched)
			}
			if diff := cmp.Diff(dns(es), tt.want, cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal([]string(a), []string(b)) })); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSearchStopsOnCancel(t *testing.T) {
	d, _ := newTestDirectory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub}, func(*Entry, Selection) error {
		t.Error("entry emitted after cancel")
		return nil
	})
	if resultCode(err) != ResultUnavailable {
		t.Errorf("cancelled search: %v, want unavailable", err)
	}

	// Cancelled part-way: a big view, cancelled from the callback.
	live := &store.Live{}
	live.Store(bigView(5000))
	d, err = NewDirectory(testConfig(t), live, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err = d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub}, func(*Entry, Selection) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if resultCode(err) != ResultUnavailable || n >= 10+ctxCheckEvery {
		t.Errorf("search cancelled after 10 entries: %d entries, %v", n, err)
	}

	// A time limit that does not pass: every entry comes back.
	n = 0
	_, err = d.Search(context.Background(), serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, TimeLimit: time.Hour},
		func(*Entry, Selection) error { n++; return nil })
	if err != nil || n < 5000 {
		t.Errorf("time limit of an hour: %d entries, %v", n, err)
	}

	// A time limit that has passed.
	_, err = d.Search(context.Background(), serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, TimeLimit: time.Nanosecond},
		func(*Entry, Selection) error { time.Sleep(time.Microsecond); return nil })
	if resultCode(err) != ResultTimeLimitExceeded {
		t.Errorf("time limit: %v, want timeLimitExceeded", err)
	}

	// An emit error ends the search and comes back.
	boom := errors.New("boom")
	_, err = d.Search(context.Background(), serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub}, func(*Entry, Selection) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("emit error: %v", err)
	}
}

// The equality indexes answer the common filters without a scan.
func TestCandidates(t *testing.T) {
	tr, _ := testTree(t)
	for _, tc := range []struct {
		filter  string
		indexed bool
		n       int
	}{
		{"(uid=alice)", true, 1},
		{"(mail=alice@example.com)", true, 1},
		{"(mailAlternateAddress=alice@alias.example.org)", true, 1},
		{"(cn=staff)", true, 1},
		{"(entryUUID=" + entryUUID("user", aliceID) + ")", true, 1},
		{"(member=uid=alice,ou=people,dc=example,dc=com)", true, 3},
		{"(memberOf=cn=staff,ou=groups,dc=example,dc=com)", true, 5},
		{"(&(objectClass=person)(mail=alice@example.com))", true, 1},
		{"(|(mail=alice@alias.example.org)(mailAlternateAddress=alice@alias.example.org))", true, 1},
		{"(&(objectClass=person)(|(uid=alice)(uid=bob)))", true, 2},
		{"(|(uid=x)(uid=y))", true, 0},
		{"(objectClass=person)", true, 4},
		{"(sn=liddell)", false, 0},
		{"(cn=a*)", false, 0},
		{"(!(uid=alice))", false, 0},
		{"(|(uid=alice)(sn=x))", false, 0},
		{"(uid>=a)", false, 0},
	} {
		l, ok := tr.candidates(mustFilter(t, tc.filter))
		if ok != tc.indexed || len(l) != tc.n {
			t.Errorf("%s: %d candidates, indexed %v; want %d, %v", tc.filter, len(l), ok, tc.n, tc.indexed)
		}
	}
}

func TestViewSwap(t *testing.T) {
	d, live := newTestDirectory(t)
	find := func() int {
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(uid=erin)")})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if n := find(); n != 0 {
		t.Fatalf("erin before swap: %d", n)
	}
	st := testState()
	st.Users = append(st.Users, store.User{ID: "5", UID: "erin", PrimaryEmail: "erin@example.com"})
	live.Store(store.NewView(st, nil, t1))
	d.Warm()
	if tr := d.trees.cur.Load(); tr.view != live.Load() {
		t.Error("Warm did not build the tree of the new view")
	}
	if n := find(); n != 1 {
		t.Fatalf("erin after swap: %d", n)
	}
}

func TestTreeCacheConcurrent(t *testing.T) {
	d, live := newTestDirectory(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			st := testState()
			st.Users = append(st.Users, store.User{ID: fmt.Sprint(i), UID: fmt.Sprintf("u%d", i)})
			live.Store(store.NewView(st, nil, t1))
		}
	}()
	for range 50 {
		if _, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(uid=alice)")}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if tr := d.trees.get(live); tr.view != live.Load() {
		t.Error("tree is not of the current view")
	}
}

// DN clashes (UIDs with the same normal form) keep the first object in
// the view's order.
func TestTreeSkipsClashes(t *testing.T) {
	st := testState()
	st.Users = append(st.Users, store.User{ID: "x", UID: "alice ", PrimaryEmail: "x@example.com"}, store.User{ID: "y", UID: " "})
	tr := buildTree(store.NewView(st, nil, t1), mustLayout(t, testConfig(t)))
	if len(tr.skipped) != 2 {
		t.Errorf("skipped %v, want 2", tr.skipped)
	}
	e := entryByDN(t, tr, aliceDN)
	if e.userID != aliceID {
		t.Errorf("alice's DN holds user %s", e.userID)
	}
}

func mustLayout(tb testing.TB, c Config) *layout {
	tb.Helper()
	c = c.withDefaults()
	l, err := newLayout(&c)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestCustomLayout(t *testing.T) {
	cfg := testConfig(t)
	cfg.BaseDN = "o=Example Corp, c=DE"
	cfg.PeopleOU, cfg.GroupsOU, cfg.PrivilegesOU, cfg.ServicesOU = "Users", "Teams", "Roles", "Apps, Inc"
	d, err := NewDirectory(cfg, testLive(), nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := searchAll(t, d, Identity{Kind: IdentityService}, &SearchRequest{BaseDN: "O=example corp,C=de", Scope: ScopeOne})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ou=Users,o=Example Corp, c=DE", "ou=Teams,o=Example Corp, c=DE", "ou=Roles,o=Example Corp, c=DE", "ou=Apps\\, Inc,o=Example Corp, c=DE"}
	if diff := cmp.Diff(dns(es), want); diff != "" {
		t.Errorf("OUs (-got +want):\n%s", diff)
	}
	id, err := d.Bind(context.Background(), "cn=archive,ou=Apps\\, Inc,o=Example Corp,c=DE", archivePW, nil)
	if err != nil || id.Kind != IdentityService {
		t.Errorf("bind under the custom services OU: %v %v", id, err)
	}
	es, err = searchAll(t, d, id, &SearchRequest{BaseDN: "o=example corp,c=de", Scope: ScopeBase, Attributes: []string{"objectClass", "o"}})
	if err != nil || len(es) != 1 {
		t.Fatal(es, err)
	}
	if diff := cmp.Diff(attrMap(es[0]), map[string][]string{"objectClass": {"top", "organization"}, "o": {"Example Corp"}}); diff != "" {
		t.Errorf("base entry (-got +want):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"empty base": func(c *Config) { c.BaseDN = "" },
		"bad base":   func(c *Config) { c.BaseDN = "example.com" },
		"cn base":    func(c *Config) { c.BaseDN = "cn=x,dc=example" },
		"same OUs":   func(c *Config) { c.GroupsOU = "People" },
		"empty SA name": func(c *Config) {
			c.ServiceAccounts = append(c.ServiceAccounts, ServiceAccount{Name: " ", PasswordHash: c.ServiceAccounts[0].PasswordHash})
		},
		"duplicate SA name": func(c *Config) { c.ServiceAccounts[1].Name = "Archive" },
		"bad hash":          func(c *Config) { c.ServiceAccounts[0].PasswordHash = "plaintext" },
		"negative limit":    func(c *Config) { c.SizeLimit = -1 },
	} {
		c := testConfig(t)
		c.ServiceAccounts = append([]ServiceAccount(nil), c.ServiceAccounts...)
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := NewDirectory(c, testLive(), nil); err == nil {
			t.Errorf("%s: NewDirectory accepted it", name)
		}
	}
}

func TestSearchExtensibleMatch(t *testing.T) {
	d, _ := newTestDirectory(t)
	bob := "uid=bob,ou=people,dc=example,dc=com"
	carol := "uid=carol,ou=people,dc=example,dc=com"
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		// AD's in-chain rule: memberOf already holds nested groups.
		{"(memberOf:1.2.840.113556.1.4.1941:=cn=staff,ou=groups,dc=example,dc=com)", []string{aliceDN, bob, carol, engDN, devsDN}},
		// The groups holding alice, directly or through nested groups.
		{"(member:1.2.840.113556.1.4.1941:=UID=Alice,ou=people,dc=example,dc=com)", []string{devsDN, engDN, staffDN, loginDN, readOwnDN}},
		{"(&(objectClass=groupOfNames)(!(member:1.2.840.113556.1.4.1941:=" + aliceDN + ")))", []string{
			"cn=admin,ou=privileges,dc=example,dc=com"}},
		{"(member:1.2.840.113556.1.4.1941:=uid=nobody,ou=people,dc=example,dc=com)", []string{}},
		// No rule: equality on the type.
		{"(member:=" + aliceDN + ")", []string{devsDN, loginDN, readOwnDN}},
		{"(uid:=carol)", []string{carol}},
		// Rules not implemented, and dnAttributes, are Undefined.
		{"(cn:2.5.13.5:=alice)", []string{}},
		{"(cn:dn:=example)", []string{}},
	} {
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, tc.filter), Attributes: []string{"1.1"}})
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		got := dns(es)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tc.filter, diff)
		}
	}
}

// TestBeside: a second directory (the LDAPS listener's) serves the first
// one's trees, each view's built once, with its own RootDSE, and shares
// its bind cache and limiter.
func TestBeside(t *testing.T) {
	cfg := testConfig(t)
	cfg.Extensions = []string{oidStartTLS, oidWhoAmI}
	live := testLive()
	d1, err := NewDirectory(cfg, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Extensions = []string{oidWhoAmI}
	d2, err := NewDirectory(cfg, live, nil, Beside(d1))
	if err != nil {
		t.Fatal(err)
	}
	builds := 0
	build := d1.trees.build
	d1.trees.build = func(v *store.View) *tree { builds++; return build(v) }
	d2.Warm()
	d1.Warm()
	live.Store(testView())
	for _, d := range []*Directory{d1, d2} {
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(uid=alice)")})
		if err != nil || len(es) != 1 {
			t.Fatalf("search: %v, %v", dns(es), err)
		}
	}
	if builds != 2 {
		t.Errorf("%d trees built for two views and two directories, want 2", builds)
	}
	if d1.trees.get(live) != d2.trees.get(live) {
		t.Error("the directories serve different trees")
	}
	ext := func(d *Directory) []string {
		es, err := searchAll(t, d, Identity{}, &SearchRequest{BaseDN: "", Scope: ScopeBase, Attributes: []string{"supportedExtension"}})
		if err != nil || len(es) != 1 {
			t.Fatalf("RootDSE: %v", err)
		}
		return attrMap(es[0])["supportedExtension"]
	}
	if !slices.Contains(ext(d1), oidStartTLS) || slices.Contains(ext(d2), oidStartTLS) {
		t.Errorf("StartTLS announced: LDAP %v, LDAPS %v; want only on LDAP", ext(d1), ext(d2))
	}

	// A password verified through one is not hashed again through the other.
	hashes := 0
	for _, d := range []*Directory{d1, d2} {
		verify := d.verify
		d.verify = func(ctx context.Context, h, pw string) (bool, error) { hashes++; return verify(ctx, h, pw) }
	}
	for _, d := range []*Directory{d1, d2} {
		if _, err := d.Bind(context.Background(), archiveDN, archivePW, nil); err != nil {
			t.Fatal(err)
		}
	}
	if hashes != 1 {
		t.Errorf("the password was hashed %d times for two binds, want 1", hashes)
	}
}

// TestSearchBaseCacheBounded floods the search-base cache as an attacker
// would (issue 12: 1,020 anonymous searches with 1 MB bases kept 3 GB):
// refused and made-up bases leave nothing behind, and what is cached stays
// within a byte bound.
func TestSearchBaseCacheBounded(t *testing.T) {
	d, _ := newTestDirectory(t)
	search := func(id Identity, base string) ResultCode {
		t.Helper()
		_, err := searchAll(t, d, id, &SearchRequest{BaseDN: base, Scope: ScopeBase, Attributes: []string{"1.1"}})
		return resultCode(err)
	}
	pad := func(i, n int) string { return fmt.Sprintf("cn=%d%s,", i, strings.Repeat("x", n)) }

	for i := range 200 {
		if code := search(Identity{}, pad(i, 64<<10)+testBase); code != ResultInsufficientAccessRights {
			t.Fatalf("anonymous search %d: %v, want insufficientAccessRights", i, code)
		}
		if code := search(Identity{}, pad(i, 100)+testBase); code != ResultInsufficientAccessRights {
			t.Fatalf("anonymous short search %d: %v, want insufficientAccessRights", i, code)
		}
	}
	if n, b := d.bases.size(); n != 0 {
		t.Fatalf("after anonymous searches: %d bases (%d bytes) cached, want none", n, b)
	}

	for i := range 200 {
		if code := search(serviceID, pad(i, 300)+testBase); code != ResultNoSuchObject {
			t.Fatalf("search of a missing base %d: %v, want noSuchObject", i, code)
		}
	}
	if n, b := d.bases.size(); n != 0 {
		t.Fatalf("after searches of missing bases: %d bases (%d bytes) cached, want none", n, b)
	}
	if code := search(serviceID, pad(0, maxDNBytes)+testBase); code != ResultInvalidDNSyntax {
		t.Fatalf("search of a base over %d bytes: %v, want invalidDNSyntax", maxDNBytes, code)
	}

	// An existing base spelt in ever new ways (spaces after the commas).
	for i := range 3 * dnCacheSize {
		base := strings.Replace(aliceDN, ",", ","+strings.Repeat(" ", i%(maxDNBytes-len(aliceDN))), 1)
		if code := search(serviceID, base); code != ResultSuccess {
			t.Fatalf("search of %d-byte spelling of %s: %v, want success", len(base), aliceDN, code)
		}
	}
	n, b := d.bases.size()
	if limit := int64(dnCacheSize * (maxCachedDN + 2*len(aliceDN))); n > dnCacheSize || b > limit {
		t.Fatalf("cache holds %d bases in %d bytes, want at most %d in %d", n, b, dnCacheSize, limit)
	}
	if n == 0 {
		t.Fatal("an existing base was not cached")
	}
}
