package google_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

const adminEmail = "alice@example.com"

// fixture is a fake Google with a small organisation, a service account
// with domain-wide delegation, and a source configured for it.
type fixture struct {
	srv     *googletest.Server
	sa      *googletest.ServiceAccount
	keyFile string
	cfg     google.Config
	logs    *syncBuffer
	sleeps  *sleepLog
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
	return ctx.Err()
}

func (l *sleepLog) all() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.d...)
}

// Sizes of the fixture's organisation.
const (
	extraUsers   = 1100 // user0000@example.com ...: with the named ones, 3 pages of users
	bigGroupSize = 450  // members of big@example.com: 3 pages of members
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := googletest.New(t)
	sa := googletest.NewServiceAccount(t, "ldapgate@ldapgate-test.iam.gserviceaccount.com")
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin(adminEmail, true)
	srv.AddDomain("example.org")
	srv.AddOrgUnit("/Sales")
	srv.AddOrgUnit("/Sales/EMEA")

	srv.PutUser(&admin.User{Id: "u1", PrimaryEmail: "alice@example.com", Aliases: []string{"al@example.com"},
		NonEditableAliases: []string{"alice@example.com.test-google-a.com"}, IsAdmin: true,
		Name:        &admin.UserName{GivenName: "Alice", FamilyName: "Archer", FullName: "Alice Archer"},
		OrgUnitPath: "/", CreationTime: "2020-01-02T03:04:05.000Z", LastLoginTime: "2026-11-01T08:00:00.000Z"})
	srv.PutUser(&admin.User{Id: "u2", PrimaryEmail: "bob@example.com", Name: &admin.UserName{GivenName: "Bob", FamilyName: "Baker"}, OrgUnitPath: "/Sales/EMEA", LastLoginTime: "1970-01-01T00:00:00.000Z"})
	srv.PutUser(&admin.User{Id: "u3", PrimaryEmail: "carol@example.com", Name: &admin.UserName{GivenName: "Carol", FamilyName: "Cook"}, OrgUnitPath: "/", Suspended: true})
	srv.PutUser(&admin.User{Id: "u4", PrimaryEmail: "dave@example.org", Name: &admin.UserName{GivenName: "Dave", FamilyName: "Diver"}, OrgUnitPath: "/"})
	srv.PutUser(&admin.User{Id: "u5", PrimaryEmail: "alice@example.org", Name: &admin.UserName{GivenName: "Alice", FamilyName: "Other"}, OrgUnitPath: "/Sales"})
	var bulk []*admin.User
	for i := range extraUsers {
		bulk = append(bulk, &admin.User{Id: fmt.Sprintf("x%04d", i), PrimaryEmail: fmt.Sprintf("user%04d@example.com", i),
			Name: &admin.UserName{GivenName: "User", FamilyName: fmt.Sprint(i)}, OrgUnitPath: "/"})
	}
	for _, u := range bulk {
		srv.PutUser(u)
	}

	srv.PutGroup(&admin.Group{Id: "g1", Email: "staff@example.com", Name: "Staff", Aliases: []string{"everyone@example.com"}})
	srv.PutGroup(&admin.Group{Id: "g2", Email: "eng@example.com", Name: "Engineering", Description: "Builders"})
	srv.PutGroup(&admin.Group{Id: "g3", Email: "archive-admins@example.com", Name: "Archive admins"})
	srv.PutGroup(&admin.Group{Id: "g4", Email: "all@example.com", Name: "All"})
	srv.PutGroup(&admin.Group{Id: "g5", Email: "big@example.com", Name: "Big"})
	srv.PutGroup(&admin.Group{Id: "g6", Email: "empty@example.com", Name: "Empty"})
	srv.SetMembers("g1", mem("USER", "u1", "alice@example.com"), mem("USER", "u2", "bob@example.com"), mem("GROUP", "g2", "eng@example.com"))
	// eng contains staff: a cycle; and an external member.
	srv.SetMembers("g2", mem("USER", "u3", "carol@example.com"), mem("USER", "u4", "dave@example.org"),
		mem("GROUP", "g1", "staff@example.com"), mem("EXTERNAL", "ext1", "someone@gmail.com"))
	srv.SetMembers("g3", mem("USER", "u1", "alice@example.com"))
	srv.SetMembers("g4", mem("CUSTOMER", "C0test", ""))
	var big []*admin.Member
	for i := range bigGroupSize {
		big = append(big, mem("USER", fmt.Sprintf("x%04d", i), fmt.Sprintf("user%04d@example.com", i)))
	}
	srv.SetMembers("g5", big...)

	keyFile := googletest.WriteFile(t, "key.json", sa.JSONKey(t, srv.TokenURL))
	f := &fixture{srv: srv, sa: sa, keyFile: keyFile, logs: &syncBuffer{}, sleeps: &sleepLog{}}
	f.cfg = google.Config{
		KeyFile:        keyFile,
		AdminEmail:     adminEmail,
		APIEndpoint:    srv.APIEndpoint,
		Concurrency:    4,
		RequestTimeout: 2 * time.Second,
		Log:            slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep:          f.sleeps.sleep,
		// Unpaced, so that the waits logged are the retries' (the pace has
		// tests of its own).
		MaxCallsPerMinute: -1,
	}
	return f
}

func mem(typ, id, email string) *admin.Member {
	return &admin.Member{Type: typ, Id: id, Email: email}
}

func (f *fixture) source() *google.Source { return google.New(f.cfg) }

// syncOptions are the engine settings of the tests.
var syncOptions = engine.Options{
	DeleteUsers:       true,
	MaxDeletePercent:  100,
	DefaultPrivileges: []string{"login"},
	Rules:             []engine.Rule{{Group: "archive-admins@example.com", Privileges: []string{"admin"}}},
	PrimaryDomain:     "example.com",
}

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ldapgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func runSync(t testing.TB, src engine.Source, db *store.DB, opts engine.Options) (*engine.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return engine.New(src, db, opts, nil).Run(ctx, engine.RunOptions{})
}

func mustSync(t testing.TB, src engine.Source, db *store.DB, opts engine.Options) *engine.Result {
	t.Helper()
	res, err := runSync(t, src, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func loadState(t testing.TB, db *store.DB) *store.State {
	t.Helper()
	st, err := db.LoadState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func findUser(st *store.State, email string) *store.User {
	for i := range st.Users {
		if st.Users[i].PrimaryEmail == email {
			return &st.Users[i]
		}
	}
	return nil
}

func findGroup(st *store.State, email string) *store.Group {
	for i := range st.Groups {
		if st.Groups[i].Email == email {
			return &st.Groups[i]
		}
	}
	return nil
}

func memberIDs(st *store.State, groupEmail string) []string {
	g := findGroup(st, groupEmail)
	if g == nil {
		return nil
	}
	var out []string
	for _, m := range st.Members[g.ID] {
		out = append(out, string(m.Type)+":"+m.ID)
	}
	return out
}
