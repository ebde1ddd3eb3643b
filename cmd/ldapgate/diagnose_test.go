package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// googleSetup starts a fake Google with a small organisation and writes a
// config using it; it returns the config path.
func googleSetup(t *testing.T) (*googletest.Server, *googletest.ServiceAccount, string) {
	t.Helper()
	srv := googletest.New(t)
	sa := googletest.NewServiceAccount(t, "ldapgate@proj.iam.gserviceaccount.com")
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin("admin@example.com", true)
	srv.PutUser(&admin.User{Id: "1", PrimaryEmail: "admin@example.com", Name: &admin.UserName{GivenName: "Ada", FamilyName: "Admin"}, OrgUnitPath: "/"})
	srv.PutUser(&admin.User{Id: "2", PrimaryEmail: "bob@example.com", Name: &admin.UserName{GivenName: "Bob", FamilyName: "B"}, OrgUnitPath: "/"})
	srv.PutUser(&admin.User{Id: "3", PrimaryEmail: "eve@example.com", OrgUnitPath: "/"})
	srv.PutGroup(&admin.Group{Id: "g1", Email: "archive-users@example.com"})
	srv.SetMembers("g1", &admin.Member{Type: "USER", Id: "1", Email: "admin@example.com"}, &admin.Member{Type: "USER", Id: "2", Email: "bob@example.com"})

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key.json"), sa.JSONKey(t, srv.TokenURL), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`domain: example.com
source:
  type: google
  google:
    service_account_key: key.json
    admin_email: admin@example.com
    api_endpoint: %s
    request_timeout: 5s
  filter:
    groups: [archive-users@example.com]
sync:
  default_privileges: [login]
store:
  path: store/ldapgate.db
ldap:
  listen: 127.0.0.1:0
`, srv.APIEndpoint)
	path := filepath.Join(dir, "ldapgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, sa, path
}

func TestSyncDryRunGoogle(t *testing.T) {
	_, _, cfg := googleSetup(t)
	code, out, errOut := cli(t, "", "sync", "--dry-run", "-c", cfg)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Log(out)
	for _, want := range []string{
		"Test settings: Google Workspace (customer my_customer), acting as admin@example.com",
		"ok    key file: ", "JSON key of service account ldapgate@proj.iam.gserviceaccount.com",
		"ok    access token: obtained from",
		"ok    impersonate admin@example.com",
		"ok    scope https://www.googleapis.com/auth/admin.directory.group.member.readonly: granted",
		"ok    read users: allowed", "ok    read groups: allowed",
		"ok    filter group archive-users@example.com: exists",
		"+ user bob@example.com",
		"Found 3 users and 1 groups in Google Workspace; in scope: 2 users, 1 groups.",
		"Dry run: nothing was changed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Test settings") > strings.Index(out, "+ user bob@example.com") {
		t.Error("the checks should come before the plan")
	}

	// --json carries the diagnosis too.
	code, out, _ = cli(t, "", "sync", "--dry-run", "--json", "-c", cfg)
	var rep struct {
		Diagnosis struct {
			Checks []struct{ Name, Status string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Diagnosis.Checks) == 0 {
		t.Errorf("exit %d, %v, report %s", code, err, out)
	}

	// "Synchronize now" applies.
	code, out, errOut = cli(t, "", "sync", "-c", cfg)
	if code != exitOK || !strings.Contains(out, "Applied as sync run") || strings.Contains(out, "Test settings") {
		t.Errorf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestSyncDryRunGoogleDelegationMissing(t *testing.T) {
	srv, sa, cfg := googleSetup(t)
	srv.Delegate(sa) // none
	code, out, errOut := cli(t, "", "sync", "--dry-run", "-c", cfg)
	if code != exitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitError, out, errOut)
	}
	t.Log(out)
	for _, want := range []string{
		"FAIL  impersonate admin@example.com: unauthorized_client",
		"fix: in the Admin console, Security > Access and data control > API controls > Manage domain-wide delegation, add client ID " + sa.ClientID,
		"Client ID:    " + sa.ClientID,
		"OAuth scopes: https://www.googleapis.com/auth/admin.directory.user.readonly,https://www.googleapis.com/auth/admin.directory.group.readonly,https://www.googleapis.com/auth/admin.directory.group.member.readonly\n",
		"skip  read users",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "Client ID:") != 1 {
		t.Errorf("the client ID should be printed once:\n%s", out)
	}
	if !strings.Contains(errOut, "test settings") {
		t.Errorf("stderr = %q", errOut)
	}
	if strings.Contains(out, "Dry run:") {
		t.Error("a plan was printed after a failed check")
	}

	// A real sync fails with the same hint, and records it.
	code, _, errOut = cli(t, "", "sync", "-c", cfg)
	if code != exitError || !strings.Contains(errOut, "unauthorized_client") || !strings.Contains(errOut, "client ID "+sa.ClientID) {
		t.Errorf("sync: exit %d, stderr %q", code, errOut)
	}
}
