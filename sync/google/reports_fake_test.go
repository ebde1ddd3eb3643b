package google_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// reportsClient is the real Reports API client pointed at the fake, with
// a token for scopes.
func reportsClient(t *testing.T, f *fixture, scopes ...string) *reports.Service {
	t.Helper()
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(f.sa.Key)})
	cfg := &jwt.Config{Email: f.sa.Email, PrivateKey: pemKey, PrivateKeyID: f.sa.KeyID, Scopes: scopes,
		TokenURL: f.srv.TokenURL, Subject: adminEmail}
	hc := oauth2.NewClient(context.Background(), cfg.TokenSource(context.Background()))
	svc, err := reports.NewService(context.Background(), option.WithHTTPClient(hc), option.WithEndpoint(f.srv.APIEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func eventNames(acts []*reports.Activity) []string {
	var out []string
	for _, a := range acts {
		for _, e := range a.Events {
			out = append(out, e.Name)
		}
	}
	return out
}

func param(e *reports.ActivityEvents, name string) string {
	for _, p := range e.Parameters {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// The fake's activities.list records the fake's changes as Google names
// them, shows them only after the report lag, newest first, pages them,
// filters by time, and checks the scope.
func TestFakeReportsActivities(t *testing.T) {
	f := newFixture(t)
	// After the fixture's own events, which the real clock stamped.
	now := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	f.srv.SetNow(func() time.Time { return now })
	f.srv.SetReportLag(3 * time.Minute)
	svc := reportsClient(t, f, googletest.ScopeReports)
	list := func(start time.Time, page int64) []*reports.Activity {
		t.Helper()
		var out []*reports.Activity
		call := svc.Activities.List("all", "admin").StartTime(start.Format(time.RFC3339)).MaxResults(page)
		if err := call.Pages(context.Background(), func(a *reports.Activities) error {
			out = append(out, a.Items...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}

	start := now
	u := f.srv.User("u2")
	u.Suspended = true
	f.srv.PutUser(u)
	now = now.Add(time.Second)
	u.PrimaryEmail, u.Aliases = "robert@example.com", []string{"bob@example.com"}
	u.OrgUnitPath = "/Sales"
	f.srv.PutUser(u)
	now = now.Add(time.Second)
	f.srv.SetMembers("g3", mem("USER", "u1", "alice@example.com"), mem("USER", "u2", "robert@example.com"))
	f.srv.DeleteGroup("g6")
	f.srv.DeleteUser("u4")
	f.srv.PutGroup(&admin.Group{Id: "g7", Email: "new@example.com", Name: "New"})
	f.srv.PutUser(&admin.User{Id: "u9", PrimaryEmail: "nina@example.com"})
	f.srv.SetMembers("g3", mem("USER", "u1", "alice@example.com"))

	if got := list(start, 1000); len(got) != 0 {
		t.Fatalf("events visible before the report lag: %v", eventNames(got))
	}
	now = now.Add(3 * time.Minute)
	got := list(start, 3) // 4 pages
	want := []string{"REMOVE_GROUP_MEMBER", "CREATE_USER", "CREATE_GROUP", "DELETE_USER", "DELETE_GROUP", "ADD_GROUP_MEMBER",
		"RENAME_USER", "ADD_NICKNAME", "MOVE_USER_TO_ORG_UNIT", "SUSPEND_USER"}
	// Events of one second come newest first in recording order reversed
	// only by time: compare as sets within a second, in order across.
	if g := eventNames(got); !sameSet(g, want) || g[len(g)-1] != "SUSPEND_USER" {
		t.Errorf("events = %v, want %v (SUSPEND_USER oldest)", g, want)
	}
	for _, a := range got {
		e := a.Events[0]
		if a.Id.ApplicationName != "admin" || a.Id.UniqueQualifier == 0 || a.Id.Time == "" {
			t.Errorf("activity id = %+v", a.Id)
		}
		switch e.Name {
		case "RENAME_USER":
			if param(e, "USER_EMAIL") != "bob@example.com" || param(e, "NEW_VALUE") != "robert@example.com" || e.Type != "USER_SETTINGS" {
				t.Errorf("RENAME_USER = %+v", e)
			}
		case "ADD_GROUP_MEMBER":
			if param(e, "USER_EMAIL") != "robert@example.com" || param(e, "GROUP_EMAIL") != "archive-admins@example.com" || e.Type != "GROUP_SETTINGS" {
				t.Errorf("ADD_GROUP_MEMBER = %+v", e)
			}
		case "MOVE_USER_TO_ORG_UNIT":
			if param(e, "ORG_UNIT_NAME") != "/Sales/EMEA" || param(e, "NEW_VALUE") != "/Sales" {
				t.Errorf("MOVE_USER_TO_ORG_UNIT = %+v", e)
			}
		}
	}
	if got := list(start.Add(2*time.Second), 1000); len(got) != 6 {
		t.Errorf("events since start+2s = %v, want the last 6", eventNames(got))
	}
	end, err := svc.Activities.List("all", "admin").StartTime(start.Format(time.RFC3339)).
		EndTime(start.Add(time.Second).Format(time.RFC3339)).Do()
	if err != nil {
		t.Fatal(err)
	}
	if g := eventNames(end.Items); !slices.Equal(g, []string{"SUSPEND_USER"}) {
		t.Errorf("events before start+1s = %v, want [SUSPEND_USER]", g)
	}
	if _, err := svc.Activities.List("all", "admin").StartTime(now.Add(time.Hour).Format(time.RFC3339)).Do(); httpCode(err) != 400 {
		t.Errorf("start time in the future: err = %v, want 400", err)
	}

	// Without the reports scope: 403 insufficientPermissions, as Google.
	dir := reportsClient(t, f, googletest.ScopeUsers)
	_, err = dir.Activities.List("all", "admin").Do()
	if httpCode(err) != http.StatusForbidden {
		t.Errorf("without the reports scope: err = %v, want 403", err)
	}
	// Not delegated: no token at all.
	f.srv.Delegate(f.sa, googletest.ScopeUsers)
	if _, err := reportsClient(t, f, googletest.ScopeReports).Activities.List("all", "admin").Do(); err == nil {
		t.Error("reports scope not delegated: the call succeeded")
	}
}

func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
