package google_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"

	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/google"
)

// Custom schema fields mapped to LDAP attributes are fetched with
// projection custom, asking only for the schemas mapped, and reach the
// store; a changed value is an update.
func TestCustomAttributes(t *testing.T) {
	f := newFixture(t)
	alice := f.srv.User("u1")
	alice.CustomSchemas = map[string]googleapi.RawMessage{
		"Employment": googleapi.RawMessage(`{"EmployeeID": "E-1", "Phones": [{"type": "work", "value": "+1 555 0100"}]}`),
		"Secret":     googleapi.RawMessage(`{"Pin": "1234"}`),
	}
	f.srv.PutUser(alice)
	f.cfg.CustomAttributes = []dirapi.CustomAttribute{
		{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"},
		{Schema: "Employment", Field: "Phones", Attribute: "telephoneNumber"},
	}
	db := openStore(t)
	mustSync(t, f.source(), db, syncOptions)

	for _, r := range f.srv.Requests() {
		if r.Call != "users.list" {
			continue
		}
		if p, m := r.Query.Get("projection"), r.Query.Get("customFieldMask"); p != "custom" || m != "Employment" {
			t.Errorf("users.list with projection %q and customFieldMask %q, want custom and Employment", p, m)
		}
	}
	want := map[string][]string{"employeeNumber": {"E-1"}, "telephoneNumber": {"+1 555 0100"}}
	if diff := cmp.Diff(findUser(loadState(t, db), "alice@example.com").Attributes, want); diff != "" {
		t.Errorf("alice's attributes (-got +want):\n%s", diff)
	}
	if u := findUser(loadState(t, db), "bob@example.com"); u.Attributes != nil {
		t.Errorf("bob's attributes = %v, want none", u.Attributes)
	}

	alice.CustomSchemas["Employment"] = googleapi.RawMessage(`{"EmployeeID": "E-2"}`)
	f.srv.PutUser(alice)
	res := mustSync(t, f.source(), db, syncOptions)
	if len(res.Plan.Users) != 1 || !cmp.Equal(res.Plan.Users[0].Fields, []string{"attributes"}) {
		t.Errorf("plan after a custom field changed: %+v", res.Plan.Users)
	}

	// Without a mapping, users are listed with the basic projection.
	f.srv.ResetCounts()
	f.cfg.CustomAttributes = nil
	if _, err := f.source().Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.srv.Requests() {
		if r.Call == "users.list" && (r.Query.Has("projection") || r.Query.Has("customFieldMask")) {
			t.Errorf("users.list without custom attributes asks for %v", r.Query)
		}
	}
}

// "Test settings" reads the mapped custom schemas and says which fields
// have values, so that a misspelt schema or field shows.
func TestDiagnoseCustomSchemas(t *testing.T) {
	f := newFixture(t)
	alice := f.srv.User("u1")
	alice.CustomSchemas = map[string]googleapi.RawMessage{"Employment": googleapi.RawMessage(`{"EmployeeID": "E-1"}`)}
	f.srv.PutUser(alice)
	f.cfg.CustomAttributes = []dirapi.CustomAttribute{
		{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"},
		{Schema: "Employmnet", Field: "Title", Attribute: "title"},
	}
	d := f.source().Diagnose(context.Background())
	if !d.OK() {
		t.Fatalf("diagnosis failed: %+v", d.Failed())
	}
	var got *google.Check
	for i := range d.Checks {
		if d.Checks[i].Name == "read custom schemas Employment, Employmnet" {
			got = &d.Checks[i]
		}
	}
	if got == nil {
		t.Fatalf("no custom schema check in %+v", d.Checks)
	}
	for _, want := range []string{"Employment.EmployeeID → employeeNumber for 1", "no values for Employmnet.Title"} {
		if !strings.Contains(got.Detail, want) {
			t.Errorf("detail %q does not contain %q", got.Detail, want)
		}
	}
}
