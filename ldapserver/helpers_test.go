package ldapserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

const (
	testBase       = "dc=example,dc=com"
	archiveDN      = "cn=archive,ou=services,dc=example,dc=com"
	archivePW      = "archive-secret-pw"
	backupDN       = "cn=backup,ou=services,dc=example,dc=com"
	backupPW       = "backup-secret-pw"
	aliceDN        = "uid=alice,ou=people,dc=example,dc=com"
	aliceID        = "100000000000000000001"
	bobID          = "100000000000000000002"
	carolID        = "100000000000000000003"
	daveID         = "100000000000000000004"
	staffID        = "00gstaff"
	engID          = "00geng"
	devsID         = "00gdevs"
	devsDN         = "cn=devs,ou=groups,dc=example,dc=com"
	engDN          = "cn=eng,ou=groups,dc=example,dc=com"
	staffDN        = "cn=staff,ou=groups,dc=example,dc=com"
	loginDN        = "cn=login,ou=privileges,dc=example,dc=com"
	readOwnDN      = "cn=read-own-archive,ou=privileges,dc=example,dc=com"
	testVendorVers = "1.2.3-test"
)

// cheapArgon2 keeps tests fast; verification reads the parameters from the
// hash, so the code path is the production one.
var cheapArgon2 = passhash.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var (
	hashOnce                sync.Once
	archiveHash, backupHash string
)

func testHashes(tb testing.TB) (string, string) {
	tb.Helper()
	hashOnce.Do(func() {
		var err error
		archiveHash, err = passhash.Hash(archivePW, cheapArgon2)
		if err != nil {
			panic(err)
		}
		b, err := bcrypt.GenerateFromPassword([]byte(backupPW), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		backupHash = string(b)
	})
	return archiveHash, backupHash
}

func testConfig(tb testing.TB) Config {
	tb.Helper()
	a, b := testHashes(tb)
	return Config{
		BaseDN:          testBase,
		ServiceAccounts: []ServiceAccount{{Name: "archive", PasswordHash: a}, {Name: "backup", PasswordHash: b}},
		VendorVersion:   testVendorVers,
		// Refusals are answered at once: tests of the delay set their own.
		BindLimit: BindLimit{FailureDelay: -1},
	}
}

var (
	t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
)

func testState() *store.State {
	return &store.State{
		Users: []store.User{
			{ID: aliceID, UID: "alice", PrimaryEmail: "alice@example.com",
				Aliases:   []string{"a.liddell@example.com", "alice@alias.example.org"},
				GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
				OrgUnitPath: "/Staff/Engineering", Origin: store.OriginDirectory, CreatedAt: t0, UpdatedAt: t1},
			{ID: bobID, UID: "bob", PrimaryEmail: "bob@example.com", GivenName: "Bob", FamilyName: "Builder",
				DisplayName: "Bob Builder", Suspended: true, Origin: store.OriginDirectory, CreatedAt: t0, UpdatedAt: t0},
			{ID: carolID, UID: "carol", PrimaryEmail: "carol@example.com", GivenName: "Carol",
				Origin: store.OriginDirectory, CreatedAt: t1, UpdatedAt: t1},
			{ID: daveID, UID: "dave", PrimaryEmail: "dave@example.com", Archived: true, Origin: store.OriginLocal},
		},
		Groups: []store.Group{
			{ID: staffID, CN: "staff", Email: "staff@example.com", Name: "Staff", Description: "All staff", CreatedAt: t0, UpdatedAt: t1},
			{ID: engID, CN: "eng", Email: "eng@example.com", Name: "Engineering", CreatedAt: t0, UpdatedAt: t0},
			{ID: devsID, CN: "devs", Email: "devs@example.com", Name: "Developers", CreatedAt: t0, UpdatedAt: t0},
		},
		Members: map[string][]store.Member{
			staffID: {{Type: store.MemberGroup, ID: engID}, {Type: store.MemberUser, ID: carolID}},
			engID:   {{Type: store.MemberGroup, ID: devsID}, {Type: store.MemberUser, ID: bobID}},
			devsID:  {{Type: store.MemberUser, ID: aliceID}},
		},
		Grants: []store.Grant{
			{UserID: aliceID, Privilege: "login", Origin: store.GrantDefault},
			{UserID: aliceID, Privilege: "read-own-archive", Origin: store.GrantDefault},
			{UserID: bobID, Privilege: "login", Origin: store.GrantDefault},
		},
	}
}

func testView() *store.View {
	return store.NewView(testState(), []string{"login", "read-own-archive", "admin"}, t1)
}

func testLive() *store.Live {
	l := &store.Live{}
	l.Store(testView())
	return l
}

// fakeClock is a settable clock for the bind limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t1} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func newTestDirectory(tb testing.TB, opts ...Option) (*Directory, *store.Live) {
	tb.Helper()
	live := testLive()
	log, _ := newTestLogger()
	d, err := NewDirectory(testConfig(tb), live, log, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return d, live
}

var serviceID = Identity{Kind: IdentityService, DN: archiveDN, Name: "archive"}

// searchAll runs a search and collects the entries.
func searchAll(tb testing.TB, d *Directory, id Identity, req *SearchRequest) ([]*SearchEntry, error) {
	tb.Helper()
	var out []*SearchEntry
	_, err := d.Search(context.Background(), id, req, func(e *Entry, sel Selection) error {
		out = append(out, sel.project(e))
		return nil
	})
	return out, err
}

func mustFilter(tb testing.TB, s string) Filter {
	tb.Helper()
	f, err := ParseFilter(s)
	if err != nil {
		tb.Fatalf("ParseFilter(%q): %v", s, err)
	}
	return f
}

func dns(es []*SearchEntry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.DN)
	}
	return out
}

// attrMap flattens an entry's attributes for comparisons.
func attrMap(e *SearchEntry) map[string][]string {
	m := make(map[string][]string, len(e.Attributes))
	for _, a := range e.Attributes {
		m[a.Name] = a.Values
	}
	return m
}

func resultCode(err error) ResultCode {
	if err == nil {
		return ResultSuccess
	}
	var le *Error
	if errors.As(err, &le) {
		return le.Code
	}
	return ResultOther
}

// allEntries returns the RootDSE, cn=Subschema and the entries of tr.
func allEntries(d *Directory, tr *tree) []*Entry {
	es := []*Entry{d.rootDSE, d.subschema}
	for i := range tr.entries {
		es = append(es, &tr.entries[i])
	}
	return es
}

// decodeMessage decodes a message's envelope into a new message.
func decodeMessage(b []byte) (*message, error) {
	m := new(message)
	if err := decodeMessageInto(m, b); err != nil {
		return nil, err
	}
	return m, nil
}

// size returns the number of DNs cached and their bytes.
func (c *dnCache) size() (n int, bytes int64) {
	if m := c.m.Load(); m != nil {
		return int(m.n.Load()), m.bytes.Load()
	}
	return 0, 0
}
