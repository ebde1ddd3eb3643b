package store

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The password of a DSN that cannot be parsed, or whose server cannot be
// reached, is not in the error.
func TestOpenPostgresKeepsThePasswordOut(t *testing.T) {
	const secret = "s3cret-pw"
	for _, dsn := range []string{
		"postgres://ldapgate:" + secret + "@127.0.0.1:notaport/ldapgate",
		"postgres://ldapgate:" + secret + "@127.0.0.1:1/ldapgate?connect_timeout=5", // nothing listens on port 1
		"host=127.0.0.1 port=1 user=ldapgate password=" + secret + " connect_timeout=5",
		"host=127.0.0.1 port=1 user=ldapgate password=" + secret + " sslmode=bogus",
	} {
		db, err := OpenPostgres(t.Context(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("OpenPostgres(%q) succeeded", strings.ReplaceAll(dsn, secret, "…"))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

// The inserts the apply sends as COPY on PostgreSQL are one row of
// placeholders; anything else goes as itself.
func TestInsertOf(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  *copyInsert
	}{
		{`INSERT INTO grants (user_id, privilege, origin, rule, created_at) VALUES (?, ?, ?, ?, ?)`,
			&copyInsert{"grants", []string{"user_id", "privilege", "origin", "rule", "created_at"}}},
		{userInsert, &copyInsert{"users", strings.Split(strings.Join(strings.Fields(userColumns), " "), ", ")}},
		{`INSERT INTO sync_runs (started_at, error) VALUES (?, ?) RETURNING id`, nil},
		{`INSERT INTO grants (user_id, created_at) VALUES (?, now())`, nil},
		{`INSERT INTO grants (user_id, created_at) VALUES (?)`, nil},
		{`DELETE FROM groups WHERE id = ?`, nil},
	} {
		if diff := cmp.Diff(insertOf(tc.query), tc.want, cmp.AllowUnexported(copyInsert{})); diff != "" {
			t.Errorf("insertOf(%q) (-got +want):\n%s", tc.query, diff)
		}
	}
}

// Steps that mix adds (COPY on PostgreSQL), other statements (pipelined)
// and changes applied alone leave both engines with the same state.
func TestEnginesAgreeOnMixedSteps(t *testing.T) {
	user := func(id, uid string) User {
		return User{ID: id, UID: uid, PrimaryEmail: uid + "@example.com", GivenName: uid, Origin: OriginDirectory}
	}
	dave, erin, frank, gina := user("u4", "dave"), user("u5", "erin"), user("u6", "frank"), user("u7", "gina")
	ops := Group{ID: "g3", CN: "ops", Email: "ops@example.com", Name: "Ops"}
	renamed, allRenamed := alice, all
	renamed.GivenName, allRenamed.Name = "Alicia", "Everyone"
	plans := []*Plan{seedPlan(), {
		Groups: []GroupChange{{Action: ActionAdd, Group: ops}, {Action: ActionUpdate, Group: allRenamed}},
		Users: []UserChange{
			{Action: ActionAdd, User: dave}, {Action: ActionUpdate, User: renamed}, {Action: ActionAdd, User: erin},
			{Action: ActionAdd, User: frank}, {Action: ActionDelete, User: carol},
		},
		Members: []MemberChange{
			addMember(staff, userMember(dave)), {Action: ActionDelete, GroupID: staff.ID, GroupEmail: staff.Email, Member: userMember(bob)},
			addMember(all, userMember(erin)), addMember(ops, userMember(frank)), addMember(ops, groupMember(staff)),
		},
		Grants: []GrantChange{
			addGrant(dave, "login", GrantDefault, ""), {Action: ActionDelete, Grant: Grant{UserID: bob.ID, Privilege: "login", Origin: GrantDefault}},
			addGrant(erin, "login", GrantDefault, ""),
		},
	}, {
		// carol's tombstone makes every add a possible return, and a
		// revocation is a second statement: these go alone.
		Users: []UserChange{
			{Action: ActionUpdate, User: dave}, {Action: ActionAdd, User: gina}, {Action: ActionUpdate, User: erin},
			{Action: ActionUpdate, User: bob, RevokeAppPasswords: true},
		},
	}}
	var states []*State
	for _, be := range backends {
		db, _ := be.openTest(t)
		for _, p := range plans {
			mustApply(t, db, p)
		}
		states = append(states, mustLoad(t, db))
	}
	if diff := cmp.Diff(states[1], states[0]); diff != "" {
		t.Errorf("%s and %s differ (-%[1]s +%[2]s):\n%[3]s", backends[1].name, backends[0].name, diff)
	}
	if len(states[0].Users) != 6 {
		t.Errorf("%d users, want 6", len(states[0].Users))
	}
}
