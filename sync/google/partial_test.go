package google_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// A listing that breaks off with 404 never becomes a shorter list: a group
// really deleted in Google while its members were listed is dropped whole;
// any other 404 (users, groups, custom schemas, or a member list of a group
// that still exists) fails the sync and changes nothing.
func TestNoPartialLists(t *testing.T) {
	notFound := func(call string, page int) googletest.Fault {
		return googletest.Fault{Call: call, Page: page, Status: 404, Reason: "notFound", Message: "Resource Not Found: groupKey"}
	}
	tests := []struct {
		name   string
		custom bool // users listed with their custom schemas
		// fault is injected; deleteMidSync, if set, says which group the
		// fault's Do deletes (the 404 then comes from the fake itself).
		fault         googletest.Fault
		deleteMidSync string
		wantErr       string // "" = the sync succeeds
		wantGone      string // group email dropped whole
	}{
		{name: "group deleted before its member list", fault: googletest.Fault{Call: "groups.list", Page: googletest.LastPage, Times: 1},
			deleteMidSync: "g2", wantGone: "eng@example.com"},
		{name: "group deleted between member pages 2 and 3", fault: googletest.Fault{Call: "members.list", Page: 2, Times: 1},
			deleteMidSync: "g5", wantGone: "big@example.com"},
		{name: "404 on member page 1, group exists", fault: notFound("members.list", 1),
			wantErr: "groups.get still finds the group"},
		{name: "404 on member page 2, group exists", fault: notFound("members.list", 2),
			wantErr: "members.list (group big@example.com) page 2 failed: googleapi: Error 404"},
		{name: "404 on users page 2", fault: notFound("users.list", 2),
			wantErr: "users.list (customer my_customer) page 2 failed: googleapi: Error 404"},
		{name: "404 on groups page 1", fault: notFound("groups.list", 1),
			wantErr: "groups.list (customer my_customer) page 1 failed: googleapi: Error 404"},
		{name: "404 on custom schema users page 2", custom: true, fault: notFound("users.list", 2),
			wantErr: "users.list (customer my_customer) page 2 failed: googleapi: Error 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.cfg.MaxAttempts = 2
			if tt.custom {
				f.cfg.CustomAttributes = []dirapi.CustomAttribute{{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"}}
			}
			db := openStore(t)
			src := f.source()
			mustSync(t, src, db, syncOptions)
			before := loadState(t, db)
			if len(memberIDs(before, "big@example.com")) != bigGroupSize || !slices.Contains(memberIDs(before, "staff@example.com"), "group:g2") {
				t.Fatal("fixture: the first sync did not store the groups in full")
			}

			f.srv.PutUser(&admin.User{Id: "u9", PrimaryEmail: "new@example.com", OrgUnitPath: "/"})
			fault := tt.fault
			if tt.deleteMidSync != "" {
				fault.Do = func() { f.srv.DeleteGroup(tt.deleteMidSync) }
			}
			hit := f.srv.Inject(fault)
			_, err := runSync(t, src, db, syncOptions)
			if hit.Hits(f.srv) == 0 {
				t.Fatal("the fault never hit")
			}
			after := loadState(t, db)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				var ce *google.CallError
				if !errors.As(err, &ce) {
					t.Errorf("error %T is not a *google.CallError", err)
				}
				if diff := cmp.Diff(after, before); diff != "" {
					t.Errorf("the failed sync changed the store (-after +before):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("sync failed: %v", err)
			}
			if findUser(after, "new@example.com") == nil {
				t.Error("the sync did not apply the other changes")
			}
			if g := findGroup(after, tt.wantGone); g != nil {
				t.Errorf("%s kept with members %v, want it dropped whole", tt.wantGone, memberIDs(after, tt.wantGone))
			}
			for _, g := range after.Groups {
				for _, m := range after.Members[g.ID] {
					if m.ID == tt.deleteMidSync {
						t.Errorf("%s still lists the deleted group as a member", g.Email)
					}
				}
			}
			if got := len(memberIDs(after, "archive-admins@example.com")); got != 1 {
				t.Errorf("archive-admins has %d members, want 1 (the other groups are untouched)", got)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "left out of this sync whole") || !strings.Contains(logs, tt.wantGone) {
				t.Errorf("the log does not say the group was dropped:\n%s", logs)
			}
		})
	}
}
