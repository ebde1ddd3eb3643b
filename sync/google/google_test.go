package google_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

func TestFullSync(t *testing.T) {
	f := newFixture(t)
	db := openStore(t)
	src := f.source()
	if got, want := src.Name(), "google:my_customer"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	res := mustSync(t, src, db, syncOptions)
	st := loadState(t, db)

	// carol is suspended and left out; everyone else is in.
	if got, want := len(st.Users), 4+extraUsers; got != want {
		t.Errorf("users in store = %d, want %d", got, want)
	}
	if findUser(st, "carol@example.com") != nil {
		t.Error("suspended carol was synced")
	}
	alice := findUser(st, "alice@example.com")
	if alice == nil {
		t.Fatal("alice missing")
	}
	want := store.User{ID: "u1", UID: "alice", PrimaryEmail: "alice@example.com",
		Aliases:   []string{"al@example.com"}, // not the routing alias alice@example.com.test-google-a.com
		GivenName: "Alice", FamilyName: "Archer", DisplayName: "Alice Archer", OrgUnitPath: "/", IsAdmin: true,
		SourceCreated: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), LastLogin: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
		Origin: store.OriginDirectory}
	got := *alice
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("alice (-got +want):\n%s", diff)
	}
	if u := findUser(st, "alice@example.org"); u == nil || u.UID != "alice.example-org" {
		t.Errorf("alice@example.org = %+v, want uid alice.example-org", u)
	}
	if u := findUser(st, "bob@example.com"); u == nil || !u.LastLogin.IsZero() {
		t.Errorf("bob = %+v, want a zero last login (never logged in)", u)
	}

	// Memberships: direct ones, the cycle kept, external members dropped,
	// customer-wide expanded, big group complete across its pages.
	if diff := cmp.Diff(memberIDs(st, "staff@example.com"), []string{"group:g2", "user:u1", "user:u2"}); diff != "" {
		t.Errorf("staff members (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(memberIDs(st, "eng@example.com"), []string{"group:g1", "user:u4"}); diff != "" {
		t.Errorf("eng members (-got +want):\n%s", diff)
	}
	if got := len(memberIDs(st, "big@example.com")); got != bigGroupSize {
		t.Errorf("big has %d members, want %d", got, bigGroupSize)
	}
	if got := len(memberIDs(st, "all@example.com")); got != len(st.Users) {
		t.Errorf("all@ has %d members, want every user (%d)", got, len(st.Users))
	}
	if !slices.ContainsFunc(st.Grants, func(g store.Grant) bool { return g.UserID == "u1" && g.Privilege == "admin" }) {
		t.Error("alice lacks the admin privilege from archive-admins@")
	}
	if res.Counts.UsersAdded != len(st.Users) {
		t.Errorf("plan added %d users, want %d", res.Counts.UsersAdded, len(st.Users))
	}

	// The minimum calls: 3 pages of users, 1 of groups, members 1 page per
	// group but 3 for big@; one token.
	calls := f.srv.Calls()
	wantCalls := map[string]int{"token": 1, "users.list": 3, "groups.list": 1, "members.list": 5 + 3}
	if diff := cmp.Diff(calls, wantCalls); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if got := src.Calls(); got != int64(1+3+1+8) {
		t.Errorf("source counted %d calls", got)
	}
	for _, r := range f.srv.Requests() {
		if r.Call == "token" {
			continue
		}
		if r.Subject != adminEmail {
			t.Errorf("%s acted as %q, want %s", r.Call, r.Subject, adminEmail)
		}
		max := map[string]string{"users.list": "500", "groups.list": "200", "members.list": "200"}[r.Call]
		if got := r.Query.Get("maxResults"); got != max {
			t.Errorf("%s maxResults = %q, want %s", r.Call, got, max)
		}
		if !strings.HasPrefix(r.Query.Get("fields"), "nextPageToken,") {
			t.Errorf("%s asked for fields %q, want a partial response", r.Call, r.Query.Get("fields"))
		}
		if r.Call != "members.list" && r.Query.Get("customer") != "my_customer" {
			t.Errorf("%s customer = %q", r.Call, r.Query.Get("customer"))
		}
	}

	// A second sync changes nothing.
	res = mustSync(t, src, db, syncOptions)
	if !res.Plan.Empty() {
		var b strings.Builder
		planfmt.Write(&b, res.Plan)
		t.Errorf("second sync planned changes:\n%s", b.String())
	}
}

func TestIncremental(t *testing.T) {
	f := newFixture(t)
	db := openStore(t)
	src := f.source()
	mustSync(t, src, db, syncOptions)

	// Add, rename, alias change, suspend, delete, membership change.
	f.srv.PutUser(&admin.User{Id: "u9", PrimaryEmail: "new@example.com", Name: &admin.UserName{GivenName: "New", FamilyName: "Hire"}, OrgUnitPath: "/"})
	bob := f.srv.User("u2")
	bob.PrimaryEmail = "robert@example.com"
	f.srv.PutUser(bob)
	alice := f.srv.User("u1")
	alice.Aliases = []string{"a@example.com"}
	f.srv.PutUser(alice)
	dave := f.srv.User("u4")
	dave.Suspended = true
	f.srv.PutUser(dave)
	f.srv.DeleteUser("x0001")
	f.srv.SetMembers("g1", mem("USER", "u1", "alice@example.com"), mem("USER", "u9", "new@example.com"), mem("GROUP", "g2", "eng@example.com"))

	res := mustSync(t, src, db, syncOptions)
	changes := make(map[string]string) // user id -> action + fields/reason
	for _, c := range res.Plan.Users {
		changes[c.User.ID] = string(c.Action) + " " + strings.Join(c.Fields, ",")
	}
	for id, want := range map[string]string{
		"u9":    "add",
		"u2":    "update primaryEmail",
		"u1":    "update aliases",
		"u4":    "delete",
		"x0001": "delete",
	} {
		if got := strings.TrimSpace(changes[id]); !strings.HasPrefix(got, want) {
			t.Errorf("user %s: planned %q, want %q", id, got, want)
		}
	}
	if len(changes) != 5 {
		t.Errorf("planned %d user changes, want 5: %v", len(changes), changes)
	}
	st := loadState(t, db)
	if u := findUser(st, "robert@example.com"); u == nil || u.ID != "u2" || u.UID != "bob" {
		// The UID follows the local part of the primary address.
		if u == nil || u.ID != "u2" {
			t.Errorf("renamed bob = %+v", u)
		}
	}
	if u := findUser(st, "alice@example.com"); u == nil || !slices.Equal(u.Aliases, []string{"a@example.com"}) {
		t.Errorf("alice's aliases = %v", u.Aliases)
	}
	if findUser(st, "dave@example.org") != nil || findUser(st, "user0001@example.com") != nil {
		t.Error("suspended or deleted users still in the store")
	}
	if diff := cmp.Diff(memberIDs(st, "staff@example.com"), []string{"group:g2", "user:u1", "user:u9"}); diff != "" {
		t.Errorf("staff members (-got +want):\n%s", diff)
	}
}

// With a group filter, only the groups in scope have their members listed:
// the filter group, the groups nested in it, and the rule groups.
func TestScopedFetch(t *testing.T) {
	f := newFixture(t)
	f.cfg.Groups = []string{"everyone@example.com"} // an alias of staff@
	f.cfg.RuleGroups = []string{"archive-admins@example.com", "missing@example.com"}
	db := openStore(t)
	opts := syncOptions
	opts.Filter.Groups = f.cfg.Groups
	mustSync(t, f.source(), db, opts)

	if got := f.srv.Calls()["members.list"]; got != 3 {
		t.Errorf("members.list calls = %d, want 3 (staff, eng nested in it, archive-admins)", got)
	}
	st := loadState(t, db)
	var emails []string
	for _, u := range st.Users {
		emails = append(emails, u.PrimaryEmail)
	}
	slices.Sort(emails)
	if diff := cmp.Diff(emails, []string{"alice@example.com", "bob@example.com", "dave@example.org"}); diff != "" {
		t.Errorf("users in scope (-got +want):\n%s", diff)
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := newFixture(t)
	f.srv.SetLatency(5 * time.Millisecond)
	for i := range 40 {
		id := "cg" + strconv.Itoa(i)
		f.srv.PutGroup(&admin.Group{Id: id, Email: id + "@example.com"})
		f.srv.SetMembers(id, mem("USER", "u1", "alice@example.com"))
	}
	f.cfg.Concurrency = 3
	if _, err := f.source().Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 3 member workers, plus the users and groups listings.
	if got := f.srv.MaxInFlight(); got > 3+2 || got < 3 {
		t.Errorf("max calls in flight = %d, want 3 to 5", got)
	}
}

func TestP12KeyAndTokenURLOverride(t *testing.T) {
	f := newFixture(t)
	p12 := googletest.WriteFile(t, "key.p12", f.sa.P12(t, google.DefaultP12Password))
	f.cfg.KeyFile = p12
	f.cfg.ServiceAccountEmail = f.sa.Email
	f.cfg.TokenURL = f.srv.TokenURL // a P12 has no token_uri
	f.srv.Audience = googleTokenURL // the aud stays Google's
	snap, err := f.source().Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 5+extraUsers {
		t.Errorf("fetched %d users", len(snap.Users))
	}

	// A JSON key with Google's token_uri, the token URL overridden by the
	// config (a private endpoint): the aud stays Google's token URL...
	f2 := newFixture(t)
	f2.cfg.KeyFile = googletest.WriteFile(t, "key.json", f2.sa.JSONKey(t, googleTokenURL))
	f2.cfg.TokenURL = f2.srv.TokenURL
	f2.srv.Audience = googleTokenURL
	if _, err := f2.source().Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	// ... unless token_audience names the endpoint that wants another.
	f2.srv.Audience = ""
	if _, err := f2.source().Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "Failed audience check") {
		t.Fatalf("aud followed the token URL override: err = %v", err)
	}
	f2.cfg.TokenAudience = f2.srv.TokenURL
	if _, err := f2.source().Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
}

const googleTokenURL = "https://oauth2.googleapis.com/token"

func TestDomain(t *testing.T) {
	f := newFixture(t)
	f.cfg.Domain = "example.org"
	snap, err := f.source().Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range snap.Users {
		emails = append(emails, u.PrimaryEmail)
	}
	slices.Sort(emails)
	if diff := cmp.Diff(emails, []string{"alice@example.org", "dave@example.org"}); diff != "" {
		t.Errorf("users of example.org (-got +want):\n%s", diff)
	}
	if got := google.New(f.cfg).Name(); got != "google:example.org" {
		t.Errorf("Name() = %q", got)
	}
}

// With a proxy set, every call (token and API) goes through it.
func TestProxy(t *testing.T) {
	f := newFixture(t)
	var n atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	f.cfg.Proxy, _ = url.Parse(proxy.URL)
	src := f.source()
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := n.Load(), src.Calls(); got != want || got == 0 {
		t.Errorf("%d calls went through the proxy, want all %d", got, want)
	}
}
