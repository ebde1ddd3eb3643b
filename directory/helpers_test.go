package directory

import (
	"context"
	"errors"
	"testing"

	"github.com/ldapgate/ldapgate/internal/dirtest"
	"github.com/ldapgate/ldapgate/store"
)

// What the protocol layer announces (ldapserver's OIDs).
const (
	oidWhoAmI       = "1.3.6.1.4.1.4203.1.11.3"
	oidStartTLS     = "1.3.6.1.4.1.1466.20037"
	oidPagedResults = "1.2.840.113556.1.4.319"
	oidSortRequest  = "1.2.840.113556.1.4.473"
)

// The shared fixture (internal/dirtest).
const (
	testBase       = dirtest.Base
	archiveDN      = dirtest.ArchiveDN
	archivePW      = dirtest.ArchivePW
	backupDN       = dirtest.BackupDN
	backupPW       = dirtest.BackupPW
	aliceDN        = dirtest.AliceDN
	aliceID        = dirtest.AliceID
	bobID          = dirtest.BobID
	carolID        = dirtest.CarolID
	daveID         = dirtest.DaveID
	staffID        = dirtest.StaffID
	engID          = dirtest.EngID
	devsID         = dirtest.DevsID
	devsDN         = dirtest.DevsDN
	engDN          = dirtest.EngDN
	staffDN        = dirtest.StaffDN
	loginDN        = dirtest.LoginDN
	readOwnDN      = dirtest.ReadOwnDN
	testVendorVers = dirtest.VendorVersion
)

var (
	t0, t1        = dirtest.T0, dirtest.T1
	testHashes    = dirtest.Hashes
	testState     = dirtest.State
	testView      = dirtest.View
	testLive      = dirtest.Live
	newFakeClock  = dirtest.NewClock
	newTestLogger = dirtest.NewLogger
	bigView       = dirtest.BigView
)

type fakeClock = dirtest.Clock

func testConfig(tb testing.TB) Config {
	tb.Helper()
	a, b := testHashes(tb)
	return Config{
		BaseDN:          testBase,
		ServiceAccounts: []ServiceAccount{{Name: "archive", PasswordHash: a}, {Name: "backup", PasswordHash: b}},
		VendorVersion:   testVendorVers,
		Controls:        []string{oidPagedResults, oidSortRequest},
		Extensions:      []string{oidWhoAmI},
		SASLMechanisms:  []string{"EXTERNAL"},
		// Refusals are answered at once: tests of the delay set their own.
		BindLimit: BindLimit{FailureDelay: -1},
	}
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
func searchAll(tb testing.TB, d *Directory, id Identity, req *SearchRequest) ([]*searchEntry, error) {
	tb.Helper()
	var out []*searchEntry
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

func dns(es []*searchEntry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.DN)
	}
	return out
}

// attrMap flattens an entry's attributes for comparisons.
func attrMap(e *searchEntry) map[string][]string {
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

// size returns the number of DNs cached and their bytes.
func (c *dnCache) size() (n int, bytes int64) {
	if m := c.m.Load(); m != nil {
		return int(m.n.Load()), m.bytes.Load()
	}
	return 0, 0
}

// searchEntry is one result entry, as searchAll collects it. Its value
// slices are shared with the directory and must not be modified.
type searchEntry struct {
	DN         string
	Attributes []attribute
}

// attribute is an attribute of a searchEntry. Values is nil for a
// types-only search.
type attribute struct {
	Name   string
	Values []string
}

// project returns the entry with the selected attributes (what the
// connection layer encodes).
func (s *Selection) project(e *Entry) *searchEntry {
	out := &searchEntry{DN: e.dn}
	it := e.attrIter()
	for a, ok := it.next(); ok; a, ok = it.next() {
		if !s.wants(a.def) {
			continue
		}
		var vals []string
		if !s.typesOnly {
			vals = a.strings()
		}
		out.Attributes = append(out.Attributes, attribute{Name: a.def.name, Values: vals})
	}
	return out
}

// strings returns the values as a new slice.
func (a attrRef) strings() []string {
	var out []string
	it := a.vals()
	for v, ok := it.next(); ok; v, ok = it.next() {
		out = append(out, v)
	}
	return out
}
