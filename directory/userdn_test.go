package directory

import "testing"

// TestUserDN: the DN the portal and the CLI show is the one the directory
// serves, with the UID escaped.
func TestUserDN(t *testing.T) {
	d, _ := newTestDirectory(t)
	es, err := searchAll(t, d, Identity{Kind: IdentityService}, &SearchRequest{BaseDN: UserDN(testBase, "alice"), Scope: ScopeBase})
	if err != nil || len(es) != 1 || es[0].DN != aliceDN {
		t.Errorf("search at UserDN(alice): %v %v, want %s", dns(es), err, aliceDN)
	}
	if got, want := UserDN(" dc=example,dc=com ", "a,b+c"), `uid=a\,b\+c,ou=people,dc=example,dc=com`; got != want {
		t.Errorf("UserDN = %q, want %q", got, want)
	}
}
