package dirfile

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirapi"
)

const demoFile = "../../configs/demo-directory.json"

func TestDemoFile(t *testing.T) {
	src := New(demoFile)
	if got, want := src.Name(), "file:"+demoFile; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	snap, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	users := make(map[string]store.User)
	ids := regexp.MustCompile(`^[0-9]{21}$`)
	var suspended, archived, admins, domains []string
	for _, u := range snap.Users {
		users[u.PrimaryEmail] = u
		if !ids.MatchString(u.ID) {
			t.Errorf("user %s: id %q is not a 21-digit Google id", u.PrimaryEmail, u.ID)
		}
		if u.Suspended {
			suspended = append(suspended, u.PrimaryEmail)
		}
		if u.Archived {
			archived = append(archived, u.PrimaryEmail)
		}
		if u.IsAdmin {
			admins = append(admins, u.PrimaryEmail)
		}
		_, d, _ := strings.Cut(u.PrimaryEmail, "@")
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	slices.Sort(admins)
	slices.Sort(domains)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"users", len(snap.Users), 50},
		{"groups", len(snap.Groups), 12},
		{"member lists", len(snap.Members), 12},
		{"suspended", suspended, []string{"mark.wilson@example.com"}},
		{"archived", archived, []string{"linda.park@example.com"}},
		{"admins", admins, []string{"gw-admin@example.com", "priya.nair@example.com", "thomas.becker@example.com"}},
		{"domains", domains, []string{"example.com", "example.org"}},
		{"alice@example.com", users["alice@example.com"].DisplayName, "Alice Martin"},
		{"alice@example.org", users["alice@example.org"].DisplayName, "Alice Dubois"},
		{"alice@example.com aliases", users["alice@example.com"].Aliases, []string{"al@example.com", "alice.martin@example.com", "alice@example.com.test-google-a.com"}},
		{"scanner never logged in", users["scanner@example.com"].LastLogin.IsZero(), true},
		{"org unit", users["thomas.becker@example.com"].OrgUnitPath, "/Engineering/Platform"},
	} {
		if diff := cmp.Diff(c.got, c.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", c.what, diff)
		}
	}

	groups := make(map[string]store.Group)
	byID := make(map[string]string)
	for _, g := range snap.Groups {
		groups[g.Email] = g
		byID[g.ID] = g.Email
	}
	for _, u := range snap.Users {
		byID[u.ID] = u.PrimaryEmail
	}
	members := func(group string) []string {
		var out []string
		for _, m := range snap.Members[groups[group].ID] {
			if m.Type == store.MemberCustomer {
				out = append(out, "CUSTOMER")
				continue
			}
			out = append(out, byID[m.ID])
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		group string
		want  []string
	}{
		{"archive-admins@example.com", []string{"hannah.schmidt@example.com", "thomas.becker@example.com"}},
		{"archive-users@example.com", []string{"all-staff@example.com", "archive-admins@example.com"}},
		{"announcements@example.com", []string{"CUSTOMER", "nadia.haddad@example.com"}},
	} {
		if diff := cmp.Diff(members(c.group), c.want); diff != "" {
			t.Errorf("members of %s (-got +want):\n%s", c.group, diff)
		}
	}
	if !slices.Contains(members("engineering@example.com"), "platform@example.com") {
		t.Errorf("platform@ is not nested in engineering@: %v", members("engineering@example.com"))
	}
}

// TestFetchRereads checks that every Fetch reads the file afresh.
func TestFetchRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.json")
	write := func(email string) {
		t.Helper()
		data := `{"users": {"users": [{"id": "1", "primaryEmail": "` + email + `"}]}}`
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := New(path)
	for _, email := range []string{"a@example.com", "b@example.com"} {
		write(email)
		snap, err := src.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := snap.Users[0].PrimaryEmail; got != email {
			t.Errorf("Fetch() user = %s, want %s", got, email)
		}
	}
}

func TestFetchMembers(t *testing.T) {
	data := `{
  "users": {"kind": "admin#directory#users", "users": [
    {"id": "1", "primaryEmail": "a@example.com", "aliases": ["alias-a@example.com"]},
    {"id": "2", "primaryEmail": "b@example.com"}
  ]},
  "groups": {"kind": "admin#directory#groups", "groups": [
    {"id": "g1", "email": "one@example.com"},
    {"id": "g2", "email": "two@example.com", "aliases": ["deux@example.com"]}
  ]},
  "members": {
    "ONE@example.com": {"members": [
      {"type": "USER", "id": "1"},
      {"type": "USER", "email": "alias-a@example.com", "id": ""},
      {"type": "GROUP", "email": "deux@example.com"},
      {"type": "CUSTOMER", "id": "C0"}
    ]},
    "g2": {"members": [{"type": "USER", "email": "b@example.com"}]}
  }
}`
	path := filepath.Join(t.TempDir(), "dir.json")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(path).Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("Fetch() error = %v, want the duplicate member (by id and by alias) reported", err)
	}

	data = strings.Replace(data, `{"type": "USER", "email": "alias-a@example.com", "id": ""},`, "", 1)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := New(path).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]store.Member{
		"g1": {
			{Type: store.MemberUser, ID: "1", Email: "a@example.com"},
			{Type: store.MemberGroup, ID: "g2", Email: "deux@example.com"},
			{Type: store.MemberCustomer, ID: "C0"},
		},
		"g2": {{Type: store.MemberUser, ID: "2", Email: "b@example.com"}},
	}
	if diff := cmp.Diff(snap.Members, want); diff != "" {
		t.Errorf("Members (-got +want):\n%s", diff)
	}
}

func TestFetchErrors(t *testing.T) {
	const users = `"users": {"kind": "admin#directory#users", "users": [
    {"id": "1", "primaryEmail": "a@example.com", "aliases": ["x@example.com"]},
    {"id": "2", "primaryEmail": "b@example.com"}
  ]}`
	const groups = `"groups": {"kind": "admin#directory#groups", "groups": [{"id": "g1", "email": "one@example.com"}]}`
	tests := []struct {
		name string
		data string // file contents; "" means no file at all
		want string // the error, after the file name
	}{
		{name: "missing file", want: "no such file or directory"},
		{name: "syntax error", data: "{\n  \"users\": {\"users\": [\n    {\"id\": \"1\",, }\n  ]}\n}", want: ":3:16: invalid JSON: invalid character ','"},
		{name: "truncated", data: "{\n  \"users\": {\"users\": [\n", want: ":2:23: invalid JSON: unexpected end of JSON input"},
		{name: "type error", data: "{\n  \"users\": {\"users\": [\n    {\"id\": \"1\", \"suspended\": \"yes\"}\n  ]}\n}", want: ":3:34: users.users.suspended: expected bool, got JSON string"},
		{name: "not an object", data: `[]`, want: ":1:1: expected an object at the top level, got JSON array"},
		{name: "unknown key", data: `{` + users + `, "usres": {}}`, want: `unknown key "usres" at the top level`},
		{name: "no users", data: `{` + groups + `}`, want: `no "users" list`},
		{name: "wrong kind", data: `{"users": {"kind": "admin#directory#groups"}}`, want: `users: kind is "admin#directory#groups", expected "admin#directory#users"`},
		{name: "next page", data: `{"users": {"users": [], "nextPageToken": "abc"}}`, want: "users: has a nextPageToken"},
		{name: "user without id", data: `{"users": {"users": [{"primaryEmail": "a@example.com"}]}}`, want: `users[0]: user "a@example.com": missing id`},
		{name: "duplicate user id", data: `{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}, {"id": "1", "primaryEmail": "b@example.com"}]}}`, want: "user b@example.com: id 1 is also the id of user a@example.com"},
		{name: "duplicate address", data: `{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}, {"id": "2", "primaryEmail": "b@example.com", "aliases": ["A@example.com"]}]}}`, want: "user b@example.com: address A@example.com is also used by user a@example.com"},
		{name: "group address of a user", data: `{` + users + `, "groups": {"groups": [{"id": "g1", "email": "x@example.com"}]}}`, want: "group x@example.com: address x@example.com is also used by user a@example.com"},
		{name: "duplicate group id", data: `{` + users + `, "groups": {"groups": [{"id": "g1", "email": "one@example.com"}, {"id": "g1", "email": "two@example.com"}]}}`, want: "group two@example.com: id g1 is also the id of group one@example.com"},
		{name: "group id of a user", data: `{` + users + `, "groups": {"groups": [{"id": "2", "email": "one@example.com"}]}}`, want: "group one@example.com: id 2 is also the id of user b@example.com"},
		{name: "members of no group", data: `{` + users + `, ` + groups + `, "members": {"two@example.com": {"members": []}}}`, want: `members["two@example.com"]: no group with that email or id`},
		{name: "two lists for a group", data: `{` + users + `, ` + groups + `, "members": {"one@example.com": {}, "g1": {}}}`, want: "group one@example.com has more than one members list"},
		{name: "unknown user", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "USER", "id": "9", "email": "z@example.com"}]}}}`, want: `members["g1"][0]: user member z@example.com: no user with that id`},
		{name: "unknown user address", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "USER", "email": "z@example.com"}]}}}`, want: `members["g1"][0]: user member z@example.com: no user with that address`},
		{name: "unknown group", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "GROUP", "id": "g9"}]}}}`, want: `members["g1"][0]: group member g9: no group with that id`},
		{name: "user id as group", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "GROUP", "id": "1"}]}}}`, want: "group member 1: no group with that id"},
		{name: "member of itself", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "GROUP", "id": "g1"}]}}}`, want: "group one@example.com is a member of itself"},
		{name: "unknown member type", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [{"type": "ALIEN", "id": "1"}]}}}`, want: `members["g1"][0]: member "1": unknown member type "ALIEN"`},
		{name: "members page", data: `{` + users + `, ` + groups + `, "members": {"g1": {"members": [], "nextPageToken": "x"}}}`, want: `members["g1"]: has a nextPageToken`},

		// The users and members are read one entry at a time; the errors are
		// still where and what a whole-file decode found.
		{name: "type error in the second user", data: "{\n  \"users\": {\"users\": [\n    {\"id\": \"1\", \"primaryEmail\": \"a@example.com\"},\n    {\"id\": \"2\", \"primaryEmail\": \"b@example.com\", \"isAdmin\": \"yes\"}\n  ]}\n}", want: ":4:65: users.users.isAdmin: expected bool, got JSON string"},
		{name: "truncated in the users", data: "{\n  \"users\": {\"users\": [\n    {\"id\": \"1\", \"primaryEmail\": \"a@example.com\"},\n    {\"id\": \"2\"", want: ":4:14: invalid JSON: unexpected end of JSON input"},
		{name: "truncated in a string", data: `{"users": {"users": [{"id": "1", "primaryEmail": "a@exa`, want: ":1:55: invalid JSON: unexpected end of JSON input"},
		{name: "syntax error after a type error", data: `{"users": {"users": [{"id": 1}]}, "groups": {]}`, want: ":1:46: invalid JSON: invalid character ']'"},
		{name: "type error after a bad user", data: `{"users": {"users": [{"primaryEmail": "a@example.com"}, {"id": 2}]}}`, want: ":1:64: users.users.id: expected string, got JSON number"},
		{name: "type error in a later list", data: `{` + users + `, "groups": {"groups": [{"id": "g1", "email": 1}]}}`, want: ":4:51: groups.groups.email: expected string, got JSON number"},
		{name: "type error in a member", data: `{"members": {"g1": {"members": [{"type": "USER", "id": 1}]}}, ` + users + `}`, want: ":1:56: members.members.id: expected string, got JSON number"},
		{name: "entry not an object", data: `{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}, 7]}}`, want: ":1:68: users.users: expected admin.User, got JSON number"},
		{name: "entries not an array", data: `{"users": {"kind": "admin#directory#users", "users": {}}}`, want: ":1:54: users.users: expected []*admin.User, got JSON object"},
		{name: "list not an object", data: `{"users": []}`, want: ":1:11: users: expected admin.Users, got JSON array"},
		{name: "members list not an object", data: `{` + users + `, "members": {"g1": []}}`, want: ":4:25: members: expected admin.Members, got JSON array"},
		{name: "kind not a string", data: `{"users": {"users": [], "kind": 5}}`, want: ":1:33: users.kind: expected string, got JSON number"},
		{name: "etag not a string", data: `{"users": {"etag": [], "users": []}}`, want: ":1:20: users.etag: expected string, got JSON array"},
		{name: "page after a bad user", data: `{"users": {"users": [{"primaryEmail": "a@example.com"}], "nextPageToken": "x"}}`, want: "users: has a nextPageToken"},
		{name: "kind after a bad user", data: `{"users": {"users": [{"primaryEmail": "a@example.com"}]}, "groups": {"kind": "x"}}`, want: `groups: kind is "x"`},
		{name: "unknown key after a bad user", data: `{"users": {"users": [{"primaryEmail": "a@example.com"}]}, "usres": {"users": [1]}}`, want: `unknown key "usres" at the top level`},
		{name: "key in another case", data: `{"Users": {"users": []}}`, want: `unknown key "Users" at the top level`},
		{name: "users given twice", data: `{` + users + `, ` + users + `}`, want: `key "users" given twice at the top level`},
		{name: "members given twice", data: `{` + users + `, "members": {}, "members": {}}`, want: `key "members" given twice at the top level`},
		{name: "users list given twice", data: `{"users": {"users": [], "Users": []}}`, want: `users: key "users" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dir.json")
			if tt.data != "" {
				if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := New(path).Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch() = %+v, want an error containing %q", snap, tt.want)
			}
			if snap != nil {
				t.Errorf("Fetch() returned a snapshot with the error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestFetchOrder checks that the order of the keys does not matter (members
// may name users and groups that come later) and that keys the API's types
// have, or do not have, are ignored in every list.
func TestFetchOrder(t *testing.T) {
	const users = `"users": {"kind": "admin#directory#users", "etag": "\"u\"", "trigger_event": "", "users": [
    {"id": "1", "primaryEmail": "a@example.com", "aliases": ["alias-a@example.com"], "etag": "e", "x": {"y": [1, 2]}},
    {"id": "2", "primaryEmail": "b@example.com", "name": {"givenName": "B", "familyName": "Bee"}}
  ], "extra": [{"users": [3]}]}`
	const groups = `"groups": {"etag": "g", "groups": [{"id": "g1", "email": "one@example.com", "kind": "admin#directory#group"}], "kind": "admin#directory#groups"}`
	const members = `"members": {
    "one@example.com": {"etag": "m", "members": [
      {"type": "USER", "email": "alias-a@example.com", "role": "OWNER", "status": "ACTIVE", "etag": "x", "unknown": {}},
      {"type": "user", "id": "2"},
      {"type": "CUSTOMER", "id": "C0"}
    ], "kind": "admin#directory#members", "nextPageToken": ""}
  }`
	want := &store.Snapshot{
		Users: []store.User{
			{ID: "1", PrimaryEmail: "a@example.com", Aliases: []string{"alias-a@example.com"}, Origin: store.OriginDirectory},
			{ID: "2", PrimaryEmail: "b@example.com", GivenName: "B", FamilyName: "Bee", DisplayName: "B Bee", Origin: store.OriginDirectory},
		},
		Groups: []store.Group{{ID: "g1", Email: "one@example.com"}},
		Members: map[string][]store.Member{"g1": {
			{Type: store.MemberUser, ID: "1", Email: "alias-a@example.com"},
			{Type: store.MemberUser, ID: "2", Email: "b@example.com"},
			{Type: store.MemberCustomer, ID: "C0"},
		}},
	}
	for _, order := range [][]string{
		{users, groups, members},
		{members, groups, users},
		{groups, members, users},
	} {
		data := "{\n  " + strings.Join(order, ",\n  ") + "\n}\n"
		snap, err := fetchData(t, data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if diff := cmp.Diff(snap, want); diff != "" {
			t.Errorf("%s: snapshot (-got +want):\n%s", data, diff)
		}
	}
}

func TestFetchEmpty(t *testing.T) {
	for _, data := range []string{
		`{"users": {"users": []}}`,
		`{"users": {"kind": "admin#directory#users"}, "groups": {"groups": []}, "members": {}}`,
		`{"users": {"users": null}, "groups": null, "members": null}`,
	} {
		snap, err := fetchData(t, data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		want := &store.Snapshot{Users: []store.User{}, Members: map[string][]store.Member{}}
		if diff := cmp.Diff(snap, want); diff != "" {
			t.Errorf("%s: snapshot (-got +want):\n%s", data, diff)
		}
	}
}

// TestFetchMembersKeyTwice checks that of a group's key given twice in
// "members" the last list counts, as it did when json.Unmarshal filled a map.
func TestFetchMembersKeyTwice(t *testing.T) {
	data := `{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}]},
		"groups": {"groups": [{"id": "g1", "email": "one@example.com"}]},
		"members": {"g1": {"members": [{"type": "USER", "id": "9"}]}, "g1": {"members": [{"type": "USER", "id": "1"}]}}}`
	snap, err := fetchData(t, data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]store.Member{"g1": {{Type: store.MemberUser, ID: "1", Email: "a@example.com"}}}
	if diff := cmp.Diff(snap.Members, want); diff != "" {
		t.Errorf("members (-got +want):\n%s", diff)
	}
}

// fetchData fetches a directory file of contents data.
func fetchData(t *testing.T, data string) (*store.Snapshot, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dir.json")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return New(path).Fetch(context.Background())
}

// FuzzCount checks count against json.Unmarshal on every valid JSON array.
func FuzzCount(f *testing.F) {
	for _, s := range []string{`[]`, ` [ ] `, `[1]`, `[1, [2, 3], {"a": [4, 5]}, "x,]\\\"", null]`, `[{}, []]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []json.RawMessage
		if json.Unmarshal(data, &entries) != nil || entries == nil {
			return
		}
		if got := count(data, 0); got != len(entries) {
			t.Errorf("count(%q) = %d, want %d", data, got, len(entries))
		}
	})
}

func TestFetchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(demoFile).Fetch(ctx); err == nil {
		t.Error("Fetch() with a cancelled context succeeded")
	}
}

// FuzzParse checks that no input makes the parser panic, and that an error
// never comes with a snapshot.
func FuzzParse(f *testing.F) {
	demo, err := os.ReadFile(demoFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demo)
	f.Add([]byte(`{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}]}, "groups": {"groups": [{"id": "g", "email": "g@example.com"}]}, "members": {"g": {"members": [{"type": "USER", "email": "a@example.com"}, {"type": "CUSTOMER", "id": "C1"}]}}}`))
	f.Add([]byte(`{"users": {"users": [`))
	f.Add([]byte(`{"members": {"g": {"etag": "x", "members": [{"type": "USER", "id": "1"}, null]}}, "groups": {"groups": [{"id": "g", "email": "g@example.com"}]}, "users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}], "kind": "admin#directory#users"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := parse(data, nil)
		if (snap == nil) == (err == nil) {
			t.Fatalf("parse() = %v, %v: want exactly one of a snapshot and an error", snap, err)
		}
		var pe *posError
		if errors.As(err, &pe) {
			if line, col := position(data, pe.offset); line < 1 || col < 1 {
				t.Errorf("position(%d) = %d:%d", pe.offset, line, col)
			}
		}
	})
}

func TestFetchCustomAttributes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.json")
	data := `{"users": {"users": [
		{"id": "1", "primaryEmail": "a@example.com", "customSchemas": {"Employment": {"EmployeeID": "E-1", "Phones": [{"type": "work", "value": "+1 555 0100"}]}}},
		{"id": "2", "primaryEmail": "b@example.com"}]}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	src := New(path, WithCustomAttributes([]dirapi.CustomAttribute{
		{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"},
		{Schema: "Employment", Field: "Phones", Attribute: "telephoneNumber"},
	}))
	snap, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"employeeNumber": {"E-1"}, "telephoneNumber": {"+1 555 0100"}}
	if diff := cmp.Diff(snap.Users[0].Attributes, want); diff != "" {
		t.Errorf("attributes (-got +want):\n%s", diff)
	}
	if got := snap.Users[1].Attributes; got != nil {
		t.Errorf("user without custom schemas has attributes %v", got)
	}
	// Without a mapping, custom schemas are ignored.
	if snap, err := New(path).Fetch(context.Background()); err != nil || snap.Users[0].Attributes != nil {
		t.Errorf("without mapping: %v, %v", snap, err)
	}
}

// posixAccounts are read in the Directory API's shape (uid and gid as
// strings; numbers work too), and a malformed one is an error.
func TestFetchPOSIXAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.json")
	data := `{"users": {"users": [
		{"id": "1", "primaryEmail": "a@example.com", "posixAccounts": [
			{"username": "a", "uid": "0", "gid": "0", "primary": true},
			{"username": "a", "uid": "1001", "gid": "100", "homeDirectory": "/home/a", "shell": "/bin/zsh", "gecos": "A", "systemId": "lab"}]},
		{"id": "2", "primaryEmail": "b@example.com", "posixAccounts": [{"uid": 1002, "primary": true}]},
		{"id": "3", "primaryEmail": "c@example.com"}]}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := New(path).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []store.POSIXAccount{
		{UID: 1001, GID: 100, HomeDirectory: "/home/a", Shell: "/bin/zsh", Gecos: "A"},
		{UID: 1002},
		{},
	}
	var got []store.POSIXAccount
	for _, u := range snap.Users {
		got = append(got, u.POSIX)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("posix accounts (-got +want):\n%s", diff)
	}

	bad := `{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com", "posixAccounts": [{"uid": "one"}]}]}}`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(path).Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "users[0]: user a@example.com: posixAccounts[0]: uid or gid is not a whole number") {
		t.Errorf("malformed uid: error %v", err)
	}
}
