package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A plan survives its record as RecordedPlan says, in the order it was
// made, with runs of memberships and grants split where they change.
func TestPlanRecord(t *testing.T) {
	renamed := alice
	renamed.PrimaryEmail = "alice.new@example.com"
	p := &Plan{
		Users: []UserChange{
			{Action: ActionAdd, User: carol, Reason: "new in source"},
			{Action: ActionUpdate, User: renamed, Fields: []string{"primaryEmail"}, Reason: "renamed from alice@example.com"},
			{Action: ActionDelete, User: stamped(bob, t0, t1), Reason: "deleted in the source"},
		},
		Groups: []GroupChange{
			{Action: ActionAdd, Group: staff, Reason: "new in source"},
			{Action: ActionDelete, Group: stamped(all, t0, t0), Reason: "deleted in the source"},
		},
		Members: []MemberChange{
			addMember(staff, userMember(alice)), addMember(staff, userMember(bob)), addMember(staff, groupMember(all)),
			addMember(all, userMember(carol)),
			{Action: ActionDelete, GroupID: staff.ID, GroupEmail: staff.Email, Member: userMember(carol), Reason: "no longer a member"},
			{Action: ActionDelete, GroupID: staff.ID, GroupEmail: staff.Email, Member: userMember(bob), Reason: "out of scope: suspended"},
		},
		Grants: []GrantChange{
			addGrant(alice, "login", GrantDefault, ""),
			addGrant(alice, "read-archive", GrantMapped, "staff@example.com"),
			addGrant(bob, "login", GrantDefault, ""),
			{Action: ActionDelete, Grant: Grant{UserID: bob.ID, Privilege: "admin", Origin: GrantMapped, Rule: "admins@example.com", CreatedAt: t0},
				UserEmail: bob.PrimaryEmail, Reason: "no longer a member of admins@example.com"},
		},
	}
	rec, err := encodePlanRecord(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec, planRecordPrefix) || !json.Valid([]byte(rec)) {
		t.Fatalf("record is not JSON starting with %s:\n%s", planRecordPrefix, rec)
	}
	got, err := decodePlanRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, RecordedPlan(p)); diff != "" {
		t.Errorf("decoded record (-got +want):\n%s", diff)
	}
	// Rows written before the record form hold the plan's own JSON.
	old, _ := json.Marshal(p)
	got, err = decodePlanRecord(string(old))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, p); diff != "" {
		t.Errorf("decoded old plan (-got +want):\n%s", diff)
	}

	empty, err := encodePlanRecord(&Plan{})
	if err != nil || empty != planRecordPrefix+"}" {
		t.Errorf("empty plan recorded as %q, %v", empty, err)
	}
	if got, err := decodePlanRecord(empty); err != nil || !got.Empty() {
		t.Errorf("empty record decoded as %+v, %v", got, err)
	}
}

// Extra attributes are stored, updated and loaded with the user.
func testUserAttributes(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	u := alice
	u.Attributes = map[string][]string{"employeeNumber": {"42"}, "telephoneNumber": {"+1 555 0100", "+1 555 0101"}}
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionAdd, User: u}}})
	if got := mustLoad(t, db).Users[0].Attributes; !cmp.Equal(got, u.Attributes) {
		t.Errorf("after add: attributes %v, want %v", got, u.Attributes)
	}
	u.Attributes = nil
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionUpdate, User: u, Fields: []string{"attributes"}}}})
	if got := mustLoad(t, db).Users[0].Attributes; got != nil {
		t.Errorf("after update: attributes %v, want none", got)
	}
}

// The POSIX account is stored, updated and loaded with the user, and a user
// without one loads with none (NULL columns).
func testUserPOSIXAccount(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	u := alice
	u.POSIX = POSIXAccount{UID: 1001, GID: 100, HomeDirectory: "/home/alice", Shell: "/bin/zsh", Gecos: "Alice"}
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionAdd, User: u}}})
	if got := mustLoad(t, db).Users[0].POSIX; got != u.POSIX {
		t.Errorf("after add: posix %+v, want %+v", got, u.POSIX)
	}
	u.POSIX = POSIXAccount{UID: 4294967294}
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionUpdate, User: u, Fields: []string{"posix"}}}})
	if got := mustLoad(t, db).Users[0].POSIX; got != u.POSIX {
		t.Errorf("after update: posix %+v, want %+v", got, u.POSIX)
	}
	u.POSIX = POSIXAccount{}
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionUpdate, User: u, Fields: []string{"posix"}}}})
	if got := mustLoad(t, db).Users[0].POSIX; got != (POSIXAccount{}) {
		t.Errorf("after removal: posix %+v, want none", got)
	}
	local := User{ID: "local-1", UID: "svc", PrimaryEmail: "svc@example.com", POSIX: POSIXAccount{UID: 2000, Shell: "/bin/sh"}}
	if err := db.PutLocalUser(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	for _, got := range mustLoad(t, db).Users {
		if got.ID == local.ID && got.POSIX != local.POSIX {
			t.Errorf("local user: posix %+v, want %+v", got.POSIX, local.POSIX)
		}
	}
}
