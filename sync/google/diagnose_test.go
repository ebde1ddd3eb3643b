package google_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

func statuses(d *google.Diagnosis) string {
	var b strings.Builder
	for _, c := range d.Checks {
		b.WriteString(c.Name + "=" + string(c.Status) + "\n")
	}
	return b.String()
}

func TestDiagnose(t *testing.T) {
	allScopes := strings.Join([]string{googletest.ScopeUsers, googletest.ScopeGroups, googletest.ScopeMembers}, ",")
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		// failed is the first failed check ("" if all pass); detail and fix
		// are substrings of its Detail and Fix.
		failed, detail, fix string
	}{
		{name: "all good", setup: func(t *testing.T, f *fixture) {
			f.cfg.Groups = []string{"staff@example.com", "everyone@example.com"}
			f.cfg.RuleGroups = []string{"archive-admins@example.com"}
			f.cfg.OrgUnits = []string{"/Sales/EMEA", "/"}
		}},
		{name: "key file missing", setup: func(t *testing.T, f *fixture) { f.cfg.KeyFile = f.keyFile + ".missing" },
			failed: "key file", detail: "does not exist", fix: "service_account_key"},
		{name: "OAuth client file", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "client.json", []byte(`{"installed":{"client_id":"x.apps.googleusercontent.com","client_secret":"s"}}`))
		}, failed: "key file", detail: "OAuth client ID file, not a service account key", fix: "Add key > JSON"},
		{name: "user credentials", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "adc.json", []byte(`{"type":"authorized_user","client_id":"x","refresh_token":"r"}`))
		}, failed: "key file", detail: "user's credentials"},
		{name: "PEM file", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "key.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		}, failed: "key file", detail: "PEM file"},
		{name: "P12 wrong password", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "key.p12", f.sa.P12(t, "s3cret-p12"))
			f.cfg.ServiceAccountEmail = f.sa.Email
		}, failed: "key file", detail: "wrong P12 password", fix: "notasecret"},
		{name: "P12 without service account email", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "key.p12", f.sa.P12(t, google.DefaultP12Password))
		}, failed: "key file", fix: "service_account_email"},
		{name: "P12 with its password", setup: func(t *testing.T, f *fixture) {
			f.cfg.KeyFile = googletest.WriteFile(t, "key.p12", f.sa.P12(t, "s3cret-p12"))
			f.cfg.ServiceAccountEmail = f.sa.Email
			f.cfg.P12Password = "s3cret-p12"
			f.cfg.TokenURL = f.srv.TokenURL
			f.srv.Audience = googleTokenURL
		}},
		{name: "no domain-wide delegation", setup: func(t *testing.T, f *fixture) { f.srv.Delegate(f.sa) },
			failed: "impersonate alice@example.com", detail: "unauthorized_client",
			fix: "Manage domain-wide delegation, add client ID 1"},
		{name: "members scope not delegated", setup: func(t *testing.T, f *fixture) {
			f.srv.Delegate(f.sa, googletest.ScopeUsers, googletest.ScopeGroups)
		}, failed: "scope " + googletest.ScopeMembers, detail: "not granted", fix: "with the OAuth scopes " + allScopes},
		{name: "incremental: reads admin events", setup: func(t *testing.T, f *fixture) { f.cfg.Changes = true }},
		{name: "incremental: reports scope not delegated", setup: func(t *testing.T, f *fixture) {
			f.cfg.Changes = true
			f.srv.Delegate(f.sa, googletest.ScopeUsers, googletest.ScopeGroups, googletest.ScopeMembers)
		}, failed: "scope " + googletest.ScopeReports, detail: "not granted", fix: googletest.ScopeMembers + "," + googletest.ScopeReports},
		{name: "incremental: admin without the reports privilege", setup: func(t *testing.T, f *fixture) {
			f.cfg.Changes = true
			f.srv.Inject(googletest.Fault{Call: "activities.list", Status: 403, Reason: "forbidden", Message: "Not Authorized to access this resource/api"})
		}, failed: "read admin events", detail: "Not Authorized", fix: "incremental sync (sync.changes_interval) reads the Reports API"},
		{name: "org unit scope not delegated", setup: func(t *testing.T, f *fixture) {
			f.cfg.OrgUnits = []string{"/Sales"}
			f.srv.Delegate(f.sa, googletest.ScopeUsers, googletest.ScopeGroups, googletest.ScopeMembers)
			// The sync itself does not need it.
			if _, err := f.source().Fetch(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, failed: "scope " + googletest.ScopeOrgUnit, detail: "not granted", fix: googletest.ScopeMembers + "," + googletest.ScopeOrgUnit},
		{name: "admin_email not a user", setup: func(t *testing.T, f *fixture) { f.cfg.AdminEmail = "nobody@example.com" },
			failed: "impersonate nobody@example.com", detail: "Invalid email or User ID", fix: "not a user of the organisation"},
		{name: "admin_email not an administrator", setup: func(t *testing.T, f *fixture) { f.srv.SetAdmin(adminEmail, false) },
			failed: "read users", detail: "Not Authorized to access this resource/api", fix: "alice@example.com is not an administrator"},
		{name: "wrong customer", setup: func(t *testing.T, f *fixture) { f.cfg.Customer = "C999" },
			failed: "read users", detail: "400", fix: `customer "C999" is not this organisation's customer ID`},
		{name: "wrong domain", setup: func(t *testing.T, f *fixture) { f.cfg.Domain = "example.net" },
			failed: "read users", detail: "404", fix: "domain example.net is not a domain of this organisation"},
		{name: "Admin SDK API not enabled", setup: func(t *testing.T, f *fixture) { f.srv.SetAPIEnabled(false) },
			failed: "read users", detail: "accessNotConfigured", fix: "Admin SDK API is not enabled in the service account's Google Cloud project ldapgate-test"},
		{name: "key deleted", setup: func(t *testing.T, f *fixture) { f.srv.DeleteKey(f.sa) },
			failed: "access token", detail: "Invalid JWT Signature", fix: "create a new key"},
		{name: "token URL unreachable", setup: func(t *testing.T, f *fixture) { f.cfg.TokenURL = "http://127.0.0.1:1/token" },
			failed: "access token", detail: "connection refused", fix: "http_proxy"},
		{name: "clock off by two hours", setup: func(t *testing.T, f *fixture) {
			f.srv.SetNow(func() time.Time { return time.Now().Add(2 * time.Hour) })
		}, failed: "access token", detail: "short-lived token", fix: "clock"},
		{name: "wrong token_audience", setup: func(t *testing.T, f *fixture) { f.cfg.TokenAudience = f.srv.TokenURL + "?via=proxy" },
			failed: "access token", detail: "Failed audience check"},
		{name: "filter group missing", setup: func(t *testing.T, f *fixture) { f.cfg.Groups = []string{"typo@example.com"} },
			failed: "filter group typo@example.com", detail: "no such group"},
		{name: "org unit missing", setup: func(t *testing.T, f *fixture) { f.cfg.OrgUnits = []string{"/Marketing"} },
			failed: "filter org unit /Marketing", detail: "no such org unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.cfg.MaxAttempts = 2
			tt.setup(t, f)
			d := f.source().Diagnose(context.Background())
			failed := d.Failed()
			switch {
			case tt.failed == "" && failed != nil:
				t.Fatalf("check %q failed: %s (fix: %s)\n%s", failed.Name, failed.Detail, failed.Fix, statuses(d))
			case tt.failed == "" && !d.OK():
				t.Fatalf("not OK:\n%s", statuses(d))
			case tt.failed == "":
				return
			case failed == nil:
				t.Fatalf("no check failed, want %q to fail:\n%s", tt.failed, statuses(d))
			}
			if failed.Name != tt.failed {
				t.Errorf("failed check = %q (%s), want %q\n%s", failed.Name, failed.Detail, tt.failed, statuses(d))
			}
			if !strings.Contains(failed.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", failed.Detail, tt.detail)
			}
			if !strings.Contains(failed.Fix, tt.fix) {
				t.Errorf("fix = %q, want it to contain %q", failed.Fix, tt.fix)
			}
			for _, c := range d.Checks[len(d.Checks)-1:] {
				if c.Status == google.StatusOK && tt.failed != "filter group typo@example.com" && tt.failed != "filter org unit /Marketing" {
					t.Errorf("check %q after a failure is ok", c.Name)
				}
			}
		})
	}
}

// The delegation fix names the client ID and the exact scope list the
// Admin console wants (comma separated, no spaces).
func TestDiagnoseDelegationFix(t *testing.T) {
	f := newFixture(t)
	f.srv.Delegate(f.sa)
	d := f.source().Diagnose(context.Background())
	fix := d.Failed().Fix
	want := "add client ID " + f.sa.ClientID + " with the OAuth scopes " +
		"https://www.googleapis.com/auth/admin.directory.user.readonly,https://www.googleapis.com/auth/admin.directory.group.readonly,https://www.googleapis.com/auth/admin.directory.group.member.readonly"
	if !strings.Contains(fix, want) {
		t.Errorf("fix = %q\nwant it to contain %q", fix, want)
	}
	if d.ClientID != f.sa.ClientID {
		t.Errorf("ClientID = %q, want %q", d.ClientID, f.sa.ClientID)
	}
	// The same hint comes with a sync's error.
	_, err := f.source().Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("fetch error = %v\nwant it to contain %q", err, want)
	}
}

// Private keys, assertions, access tokens and P12 passwords never appear
// in errors, diagnoses or logs.
func TestNoSecrets(t *testing.T) {
	f := newFixture(t)
	var out strings.Builder
	record := func(v any) {
		data, _ := json.Marshal(v)
		out.Write(data)
		out.WriteString("\n")
	}
	errText := func(err error) {
		if err != nil {
			out.WriteString(err.Error() + "\n")
		}
	}

	// Successes (tokens issued) and many failures.
	_, err := f.source().Fetch(context.Background())
	errText(err)
	record(f.source().Diagnose(context.Background()))
	for _, fault := range []googletest.Fault{
		{Call: "users.list", Status: 500}, {Call: "token", Status: 400, Reason: "invalid_grant", Message: "Invalid JWT Signature."},
		{Call: "members.list", Status: 403, Reason: "forbidden", Message: "Not Authorized to access this resource/api"},
		{Call: "groups.list", Status: 429, RetryAfter: "1"},
	} {
		f.srv.ClearFaults()
		f.srv.Inject(fault)
		cfg := f.cfg
		cfg.MaxAttempts = 2
		_, err := google.New(cfg).Fetch(context.Background())
		errText(err)
		record(google.New(cfg).Diagnose(context.Background()))
	}
	f.srv.ClearFaults()
	f.srv.Delegate(f.sa)
	_, err = f.source().Fetch(context.Background())
	errText(err)
	record(f.source().Diagnose(context.Background()))
	cfg := f.cfg
	cfg.KeyFile = googletest.WriteFile(t, "key.p12", f.sa.P12(t, "p12-password-x"))
	cfg.ServiceAccountEmail = f.sa.Email
	cfg.P12Password = "wrong-password-y"
	_, err = google.New(cfg).Fetch(context.Background())
	errText(err)
	record(google.New(cfg).Diagnose(context.Background()))

	text := out.String() + f.logs.String()
	if !strings.Contains(text, "unauthorized_client") {
		t.Fatalf("the failures did not happen:\n%s", text)
	}
	keyJSON := f.sa.JSONKey(t, f.srv.TokenURL)
	var jk struct {
		PrivateKey string `json:"private_key"`
	}
	json.Unmarshal(keyJSON, &jk)
	secrets := []string{"p12-password-x", "wrong-password-y", "PRIVATE KEY", "eyJ" /* any JWT */}
	secrets = append(secrets, strings.Split(jk.PrivateKey, "\n")[1:5]...)
	secrets = append(secrets, f.srv.AccessTokens()...)
	secrets = append(secrets, base64.StdEncoding.EncodeToString(f.sa.Key.D.Bytes())[:20])
	if len(f.srv.AccessTokens()) == 0 {
		t.Fatal("no access token was issued")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("secret %q appears in the output:\n%s", s, text)
		}
	}
}
