// Package dirtest is the fixture the directory's and the LDAP server's
// tests share: a small directory (users, nested groups, privileges, two
// service accounts), a large generated one, cheap password hashes, a
// settable clock and a log buffer.
package dirtest

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// The fixture's names.
const (
	Base          = "dc=example,dc=com"
	ArchiveDN     = "cn=archive,ou=services,dc=example,dc=com"
	ArchivePW     = "archive-secret-pw"
	BackupDN      = "cn=backup,ou=services,dc=example,dc=com"
	BackupPW      = "backup-secret-pw"
	AliceDN       = "uid=alice,ou=people,dc=example,dc=com"
	AliceID       = "100000000000000000001"
	BobID         = "100000000000000000002"
	CarolID       = "100000000000000000003"
	DaveID        = "100000000000000000004"
	StaffID       = "00gstaff"
	EngID         = "00geng"
	DevsID        = "00gdevs"
	DevsDN        = "cn=devs,ou=groups,dc=example,dc=com"
	EngDN         = "cn=eng,ou=groups,dc=example,dc=com"
	StaffDN       = "cn=staff,ou=groups,dc=example,dc=com"
	LoginDN       = "cn=login,ou=privileges,dc=example,dc=com"
	ReadOwnDN     = "cn=read-own-archive,ou=privileges,dc=example,dc=com"
	VendorVersion = "1.2.3-test"
)

// CheapArgon2 keeps tests fast; verification reads the parameters from the
// hash, so the code path is the production one.
var CheapArgon2 = passhash.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var (
	hashOnce                sync.Once
	archiveHash, backupHash string
)

// Hashes returns the service accounts' password hashes: archive's argon2id,
// backup's bcrypt.
func Hashes(tb testing.TB) (string, string) {
	tb.Helper()
	hashOnce.Do(func() {
		var err error
		archiveHash, err = passhash.Hash(ArchivePW, CheapArgon2)
		if err != nil {
			panic(err)
		}
		b, err := bcrypt.GenerateFromPassword([]byte(BackupPW), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		backupHash = string(b)
	})
	return archiveHash, backupHash
}

// T0 and T1 are the fixture's creation and update times.
var (
	T0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	T1 = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
)

// State is the small directory.
func State() *store.State {
	return &store.State{
		Users: []store.User{
			{ID: AliceID, UID: "alice", PrimaryEmail: "alice@example.com",
				Aliases:   []string{"a.liddell@example.com", "alice@alias.example.org"},
				GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
				OrgUnitPath: "/Staff/Engineering", Origin: store.OriginDirectory, CreatedAt: T0, UpdatedAt: T1},
			{ID: BobID, UID: "bob", PrimaryEmail: "bob@example.com", GivenName: "Bob", FamilyName: "Builder",
				DisplayName: "Bob Builder", Suspended: true, Origin: store.OriginDirectory, CreatedAt: T0, UpdatedAt: T0},
			{ID: CarolID, UID: "carol", PrimaryEmail: "carol@example.com", GivenName: "Carol",
				Origin: store.OriginDirectory, CreatedAt: T1, UpdatedAt: T1},
			{ID: DaveID, UID: "dave", PrimaryEmail: "dave@example.com", Archived: true, Origin: store.OriginLocal},
		},
		Groups: []store.Group{
			{ID: StaffID, CN: "staff", Email: "staff@example.com", Name: "Staff", Description: "All staff", CreatedAt: T0, UpdatedAt: T1},
			{ID: EngID, CN: "eng", Email: "eng@example.com", Name: "Engineering", CreatedAt: T0, UpdatedAt: T0},
			{ID: DevsID, CN: "devs", Email: "devs@example.com", Name: "Developers", CreatedAt: T0, UpdatedAt: T0},
		},
		Members: map[string][]store.Member{
			StaffID: {{Type: store.MemberGroup, ID: EngID}, {Type: store.MemberUser, ID: CarolID}},
			EngID:   {{Type: store.MemberGroup, ID: DevsID}, {Type: store.MemberUser, ID: BobID}},
			DevsID:  {{Type: store.MemberUser, ID: AliceID}},
		},
		Grants: []store.Grant{
			{UserID: AliceID, Privilege: "login", Origin: store.GrantDefault},
			{UserID: AliceID, Privilege: "read-own-archive", Origin: store.GrantDefault},
			{UserID: BobID, Privilege: "login", Origin: store.GrantDefault},
		},
	}
}

// View is State as a view, with the privileges login, read-own-archive
// and admin.
func View() *store.View {
	return store.NewView(State(), []string{"login", "read-own-archive", "admin"}, T1)
}

// Live holds View.
func Live() *store.Live {
	l := &store.Live{}
	l.Store(View())
	return l
}

// Clock is a settable clock for the bind limiter.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at T1.
func NewClock() *Clock { return NewClockAt(T1) }

// NewClockAt returns a Clock at t.
func NewClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// LogBuffer collects log output for assertions.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewLogger returns a text logger at debug level into a LogBuffer.
func NewLogger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// BigView is a view with n users in 100 groups (each user in two, nested
// one level) and two privileges.
func BigView(n int) *store.View {
	st := &store.State{Members: map[string][]store.Member{}}
	for g := range 100 {
		id := fmt.Sprintf("g%03d", g)
		st.Groups = append(st.Groups, store.Group{ID: id, CN: "group" + id, Email: "group" + id + "@example.com"})
		if g > 0 {
			st.Members["g000"] = append(st.Members["g000"], store.Member{Type: store.MemberGroup, ID: id})
		}
	}
	for i := range n {
		id := fmt.Sprintf("u%07d", i)
		st.Users = append(st.Users, store.User{
			ID: id, UID: fmt.Sprintf("user%07d", i), PrimaryEmail: fmt.Sprintf("user%07d@example.com", i),
			Aliases:   []string{fmt.Sprintf("alias%07d@example.com", i)},
			GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i), OrgUnitPath: "/Staff",
			CreatedAt: T0, UpdatedAt: T1,
		})
		for _, g := range []int{i % 100, (i / 100) % 100} {
			gid := fmt.Sprintf("g%03d", g)
			st.Members[gid] = append(st.Members[gid], store.Member{Type: store.MemberUser, ID: id})
		}
		st.Grants = append(st.Grants, store.Grant{UserID: id, Privilege: "login"})
		if i%10 == 0 {
			st.Grants = append(st.Grants, store.Grant{UserID: id, Privilege: "read-own-archive"})
		}
	}
	return store.NewView(st, nil, T1)
}
