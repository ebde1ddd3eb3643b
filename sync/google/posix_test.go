package google_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/store"
)

// bodyRecorder keeps the bodies of the users.list responses.
type bodyRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/users") {
		return res, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.bodies = append(b.bodies, data)
	b.mu.Unlock()
	res.Body = io.NopCloser(bytes.NewReader(data))
	return res, nil
}

// Google's posixAccounts are asked for, reach the store (the primary
// account, else the first; never uid 0) and are served over LDAP; a changed
// Google uid is an update.
func TestPOSIXAccounts(t *testing.T) {
	f := newFixture(t)
	alice := f.srv.User("u1")
	alice.PosixAccounts = []*admin.UserPosixAccount{{Uid: 1001, Gid: 1001, Username: "alice", HomeDirectory: "/home/alice",
		Shell: "/bin/zsh", Gecos: "Alice A.", SystemId: "lab", AccountId: "acct-1", OperatingSystemType: "linux", Primary: true}}
	f.srv.PutUser(alice)
	bob := f.srv.User("u2") // root is never served
	bob.PosixAccounts = []*admin.UserPosixAccount{{Uid: 0, Gid: 0, Username: "root", HomeDirectory: "/root", Primary: true}}
	f.srv.PutUser(bob)
	dave := f.srv.User("u4") // no primary: the first
	dave.PosixAccounts = []*admin.UserPosixAccount{{Uid: 2001, HomeDirectory: "/home/dave"}, {Uid: 2002}}
	f.srv.PutUser(dave)
	rec := &bodyRecorder{}
	f.cfg.Transport = rec

	db := openStore(t)
	mustSync(t, f.source(), db, syncOptions)

	for _, r := range f.srv.Requests() {
		if r.Call == "users.list" && !strings.Contains(r.Query.Get("fields"), "posixAccounts(") {
			t.Errorf("users.list asked for fields %q, without posixAccounts", r.Query.Get("fields"))
		}
	}
	// The fake answers like Google: uid as a string, only the fields asked for.
	var all []byte
	for _, b := range rec.bodies {
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte(`"uid":"1001"`)) {
		t.Error(`users.list responses lack alice's "uid":"1001"`)
	}
	for _, never := range []string{"acct-1", "systemId", "operatingSystemType", `"username"`} {
		if bytes.Contains(all, []byte(never)) {
			t.Errorf("users.list responses hold %s, which ldapgate does not ask for", never)
		}
	}

	st := loadState(t, db)
	wantPOSIX := map[string]store.POSIXAccount{
		"alice@example.com": {UID: 1001, GID: 1001, HomeDirectory: "/home/alice", Shell: "/bin/zsh", Gecos: "Alice A."},
		"bob@example.com":   {},
		"dave@example.org":  {UID: 2001, HomeDirectory: "/home/dave"},
	}
	for email, want := range wantPOSIX {
		if u := findUser(st, email); u == nil || u.POSIX != want {
			t.Errorf("%s: posix %+v, want %+v", email, u, want)
		}
	}

	// Over LDAP, from the store.
	c := serveLDAP(t, st)
	entry := func(mail string) *ldap.Entry {
		t.Helper()
		res, err := c.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(&(objectClass=posixAccount)(mail="+mail+"))", []string{"uidNumber", "gidNumber", "homeDirectory", "loginShell", "gecos"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search %s: %v %v", mail, res, err)
		}
		return res.Entries[0]
	}
	a := entry("alice@example.com")
	got := map[string]string{}
	for _, at := range a.Attributes {
		got[at.Name] = strings.Join(at.Values, "|")
	}
	want := map[string]string{"uidNumber": "1001", "gidNumber": "1001", "homeDirectory": "/home/alice", "loginShell": "/bin/zsh", "gecos": "Alice A."}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("alice over LDAP (-got +want):\n%s", diff)
	}
	if n := entry("bob@example.com").GetAttributeValue("uidNumber"); n == "0" || len(n) < 6 {
		t.Errorf("bob's uidNumber %q, want a derived one (Google's uid 0 ignored)", n)
	}
	if n := entry("dave@example.org").GetAttributeValue("uidNumber"); n != "2001" {
		t.Errorf("dave's uidNumber %q, want 2001 (the first account)", n)
	}
	res, err := c.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(|(uidNumber=0)(gidNumber=0)(uidNumber=1001))", []string{"mail"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("mail") != "alice@example.com" {
		t.Errorf("search for uidNumber 0 or 1001: %v %v, want alice alone", res, err)
	}

	// A changed Google uid is an update of that user alone.
	alice.PosixAccounts = []*admin.UserPosixAccount{{Uid: 1002, Gid: 1001, HomeDirectory: "/home/alice", Shell: "/bin/zsh", Gecos: "Alice A.", Primary: true}}
	f.srv.PutUser(alice)
	r := mustSync(t, f.source(), db, syncOptions)
	if len(r.Plan.Users) != 1 || r.Plan.Users[0].User.ID != "u1" || r.Plan.Users[0].Action != store.ActionUpdate ||
		!cmp.Equal(r.Plan.Users[0].Fields, []string{"posix"}) {
		t.Errorf("plan after alice's Google uid changed: %+v", r.Plan.Users)
	}
	if u := findUser(loadState(t, db), "alice@example.com"); u.POSIX.UID != 1002 {
		t.Errorf("alice's stored uid %d, want 1002", u.POSIX.UID)
	}
}

// serveLDAP serves st with POSIX attributes on 127.0.0.1:0 and returns a
// client bound as the service account.
func serveLDAP(t *testing.T, st *store.State) *ldap.Conn {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("archive-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	live := &store.Live{}
	live.Store(store.NewView(st, []string{"login", "admin"}, time.Now()))
	srv, err := ldapserver.New(ldapserver.Config{Directory: directory.Config{
		BaseDN:          "dc=example,dc=com",
		ServiceAccounts: []directory.ServiceAccount{{Name: "archive", PasswordHash: string(hash)}},
		POSIX:           directory.POSIX{Enabled: true},
	}}, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ldap.DialURL("ldap://" + ldaptest.Serve(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind("cn=archive,ou=services,dc=example,dc=com", "archive-pw"); err != nil {
		t.Fatal(err)
	}
	return c
}
