package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// A user suspended in Google is refused by ldapgate's LDAP bind at the
// first poll of the admin events that sees the suspension (a short
// sync.changes_interval stands in for the minute), with the app password
// revoked, long before the next full sync; each poll that finds nothing
// costs one call.
func TestIncrementalSuspensionEndsBinds(t *testing.T) {
	srv, cfgPath, _ := googleGatewayConfig(t, "")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sync.Interval.D() != DefaultIncrementalInterval || cfg.Sync.ChangesInterval.D() != DefaultChangesInterval {
		t.Errorf("defaults with incremental on: interval %s, changes_interval %s", cfg.Sync.Interval.D(), cfg.Sync.ChangesInterval.D())
	}
	cfg.Sync.ChangesInterval = Duration(20 * time.Millisecond) // under the minimum a config may set
	g := runGateway(t, cfg, testLog())
	ldapURL := "ldap://" + g.LDAPAddrs()[0].String()

	bob, ok := g.View().UserByMail("bob@example.com")
	if !ok {
		t.Fatal("bob not synced")
	}
	pw, rec, err := apppassword.New(bob.ID, "archive", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.DB().CreateAppPassword(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	bobDN := "uid=bob,ou=people,dc=example,dc=com"
	if err := bindErr(t, ldapURL, bobDN, pw); err != nil {
		t.Fatalf("bind before the suspension: %v", err)
	}

	// Polls without changes: one activities.list each, nothing else.
	waitPolls(t, srv, 3)
	srv.ResetCounts()
	waitPolls(t, srv, 3)
	c := srv.Calls()
	if polls := c["activities.list"]; srv.APICalls() != polls || c["token"] != 0 {
		t.Errorf("calls while nothing changes: %v, want activities.list only", c)
	}

	u := srv.User("u2")
	u.Suspended = true
	srv.PutUser(u)
	srv.ResetCounts()
	for {
		polls := waitPolls(t, srv, 1)
		err := bindErr(t, ldapURL, bobDN, pw)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			// The poll under way at the suspension may have missed it;
			// the next one applies it.
			if polls > 2 {
				t.Errorf("bind refused only after %d polls, want at most 2", polls)
			}
			break
		}
		if polls > 2 {
			t.Fatalf("bind after %d polls of the suspension: %v, want invalidCredentials", polls, err)
		}
	}
	c = srv.Calls()
	if c["users.list"] != 0 || c["groups.list"] != 0 || c["members.list"] != 0 {
		t.Errorf("calls = %v: the suspension should cost users.get only, no listing", c)
	}
	if c["users.get"] != 1 {
		t.Errorf("users.get calls = %d, want 1", c["users.get"])
	}
	aps, err := g.DB().ActiveAppPasswords(t.Context(), bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(aps) != 0 {
		t.Errorf("bob's app passwords still active: %v", aps)
	}
	runs, err := g.DB().SyncRuns(t.Context(), 1)
	if err != nil || len(runs) != 1 || runs[0].Kind != store.RunIncremental || runs[0].Counts.UsersDeleted != 1 {
		t.Errorf("last run = %+v (err %v), want an incremental run deleting bob", runs, err)
	}
}

// googleGatewayConfig starts a fake Google with an admin, bob (org unit /)
// and carol (/Sales), and writes a config for it with sync.incremental on
// (and extra under source); it returns the config's path and text.
func googleGatewayConfig(t *testing.T, extra string) (*googletest.Server, string, string) {
	t.Helper()
	srv := googletest.New(t)
	sa := googletest.NewServiceAccount(t, "ldapgate@ldapgate-test.iam.gserviceaccount.com")
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin("admin@example.com", true)
	srv.AddOrgUnit("/Sales")
	srv.PutUser(&admin.User{Id: "u1", PrimaryEmail: "admin@example.com", OrgUnitPath: "/"})
	srv.PutUser(&admin.User{Id: "u2", PrimaryEmail: "bob@example.com", OrgUnitPath: "/", Name: &admin.UserName{GivenName: "Bob", FamilyName: "Baker"}})
	srv.PutUser(&admin.User{Id: "u3", PrimaryEmail: "carol@example.com", OrgUnitPath: "/Sales"})
	dir := t.TempDir()
	keyFile := googletest.WriteFile(t, "key.json", sa.JSONKey(t, srv.TokenURL))
	text := fmt.Sprintf(`domain: example.com
source:
  type: google
  google:
    service_account_key: %s
    admin_email: admin@example.com
    api_endpoint: %s
%ssync:
  incremental: true
  max_delete_percent: 100
  default_privileges: [login]
store:
  path: %s
ldap:
  listen: 127.0.0.1:0
binds: [app_password]
`, keyFile, srv.APIEndpoint, extra, filepath.Join(dir, "ldapgate.db"))
	cfgPath := filepath.Join(dir, "ldapgate.yaml")
	writeFile(t, cfgPath, text)
	return srv, cfgPath, text
}

// A reload that narrows the scope (maybe a half-saved edit) lets the
// incremental sync delete no one the new scope leaves out before a full
// sync has run with it; a user suspended in Google is deleted all the
// same, also when the suspension happened before the reload replaced the
// source (the new source polls on from the old one's place).
func TestIncrementalAfterReload(t *testing.T) {
	srv, cfgPath, text := googleGatewayConfig(t, "")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sync.ChangesInterval = Duration(time.Hour) // the test polls
	g := runGateway(t, cfg, testLog())
	g.syncChanges(t.Context())
	for _, m := range []string{"admin@example.com", "bob@example.com", "carol@example.com"} {
		if _, ok := g.View().UserByMail(m); !ok {
			t.Fatalf("%s not synced", m)
		}
	}

	u := srv.User("u3")
	u.Suspended = true
	srv.PutUser(u)
	before := time.Now()
	replaceFile(t, cfgPath, strings.Replace(text, "sync:\n", "  filter:\n    org_units: [/Sales]\nsync:\n", 1))
	if st := waitReload(t, g, before); !st.OK {
		t.Fatal(st.Err)
	}
	srv.ResetCounts()
	g.syncChanges(t.Context())
	// The events applied before the reload are not fetched again.
	if n := srv.Calls()["users.get"]; n != 1 {
		t.Errorf("users.get calls after the reload = %d, want 1 (carol)", n)
	}
	if _, ok := g.View().UserByMail("carol@example.com"); ok {
		t.Error("carol, suspended in Google before the reload, is still served")
	}
	for _, m := range []string{"admin@example.com", "bob@example.com"} {
		if _, ok := g.View().UserByMail(m); !ok {
			t.Errorf("%s, out of the new scope, deleted before a full sync ran with it", m)
		}
	}
}

// waitPolls waits until the fake has answered n more activities.list
// calls and returns how many it answered since its counts were reset.
func waitPolls(t *testing.T, srv *googletest.Server, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := srv.Calls()["activities.list"]
	for {
		got := srv.Calls()["activities.list"]
		if got >= start+n {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no poll of the admin events: %d of %d", got-start, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
