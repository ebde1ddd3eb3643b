package ldapserver

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
	"github.com/ldapgate/ldapgate/store"
)

const benchUsers = 100_000

var (
	benchViewOnce sync.Once
	benchViewV    *store.View
)

func benchView() *store.View {
	benchViewOnce.Do(func() { benchViewV = bigView(benchUsers) })
	return benchViewV
}

// newBenchServer serves the 100k-user view with a logger at info, as a
// production server logs (the tests' debug logger would be measured too).
func newBenchServer(b *testing.B) *Server {
	b.Helper()
	s, err := New(testConfig(b), benchLive(), slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchLive() *store.Live {
	l := &store.Live{}
	l.Store(benchView())
	return l
}

// BenchmarkSearchByUID: one search by uid on a bound connection over
// loopback, 100k users, all user attributes returned.
func BenchmarkSearchByUID(b *testing.B) {
	s := newBenchServer(b)
	addr := serve(b, s)
	c := dialBound(b, addr)
	if _, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=user0000000)"); err != nil { // builds the tree
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, fmt.Sprintf("(uid=user%07d)", (i*7919)%benchUsers))
		if err != nil || len(r.Entries) != 1 {
			b.Fatalf("%v %v", r, err)
		}
	}
}

// rawClient sends pre-encoded requests and reads responses with the
// server's own framing, so the figures show the server's cost rather than
// go-ldap's.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func newRawClient(b *testing.B, addr string) *rawClient {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	rc := &rawClient{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := c.Write(rawBind(1, archiveDN, archivePW)); err != nil {
		b.Fatal(err)
	}
	if m := rc.read(b); m.op != opBindResponse {
		b.Fatalf("bind: op %d", m.op)
	}
	return rc
}

func (rc *rawClient) read(b *testing.B) *message {
	frame, err := readFrame(rc.br, nil, 1<<30, nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := decodeMessage(frame)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// search sends req and returns the entries and the done message.
func (rc *rawClient) search(b *testing.B, req []byte) (int, *message) {
	if _, err := rc.c.Write(req); err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		m := rc.read(b)
		switch m.op {
		case opSearchEntry:
			n++
		case opSearchDone:
			return n, m
		}
	}
}

func eqFilter(attr, value string) *asn1ber.Packet {
	p := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, ldap.FilterEqualityMatch, nil, "eq")
	p.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, attr, "attr"))
	p.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, value, "value"))
	return p
}

func rawSearchAll(id int64, base string, filter *asn1ber.Packet, controls ...*asn1ber.Packet) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opSearchRequest, nil, "search")
	op.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, base, "base"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagEnumerated, 2, "scope"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagEnumerated, 0, "deref"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 0, "size"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 0, "time"))
	op.AppendChild(asn1ber.NewBoolean(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagBoolean, false, "types"))
	op.AppendChild(filter)
	op.AppendChild(asn1ber.NewSequence("attrs")) // all user attributes
	return envelope(id, op, controls...)
}

// BenchmarkRawSearchByUID: BenchmarkSearchByUID with a raw client.
func BenchmarkRawSearchByUID(b *testing.B) {
	s := newBenchServer(b)
	s.dir.Warm()
	rc := newRawClient(b, serve(b, s))
	reqs := make([][]byte, 4096)
	for i := range reqs {
		reqs[i] = rawSearchAll(int64(i+2), testBase, eqFilter("uid", fmt.Sprintf("user%07d", (i*7919)%benchUsers)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if n, done := rc.search(b, reqs[i%len(reqs)]); n != 1 || resultOfDone(done) != directory.ResultSuccess {
			b.Fatalf("%d entries", n)
		}
	}
}

func resultOfDone(m *message) directory.ResultCode {
	it := m.body.Children()
	v, err := ber.ParseInt(it.Next().Content)
	if err != nil {
		return 9999
	}
	return directory.ResultCode(v)
}

// BenchmarkRawPagedRead: a full paged read of the 100k users (all user
// attributes, pages of 1000) with a raw client; one op is the whole read.
func BenchmarkRawPagedRead(b *testing.B) {
	s := newBenchServer(b)
	s.dir.Warm()
	rc := newRawClient(b, serve(b, s))
	filter := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, ldap.FilterEqualityMatch, nil, "eq")
	filter.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "objectClass", "attr"))
	filter.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "inetOrgPerson", "value"))
	b.ReportAllocs()
	b.ResetTimer()
	id := int64(1)
	for b.Loop() {
		total := 0
		var cookie string
		for {
			id++
			pc := ldap.NewControlPaging(1000)
			pc.SetCookie([]byte(cookie))
			n, done := rc.search(b, rawSearchAll(id, "ou=people,"+testBase, filter, pc.Encode()))
			total += n
			if resultOfDone(done) != directory.ResultSuccess || len(done.controls) != 1 {
				b.Fatalf("page: %v", resultOfDone(done))
			}
			_, cookie, _ = parsePagingControl(done.controls[0])
			if cookie == "" {
				break
			}
		}
		if total != benchUsers {
			b.Fatalf("%d entries", total)
		}
	}
}

// BenchmarkBind: a simple bind of a service account (cheap argon2
// parameters: the protocol's cost, not the hash's).
func BenchmarkBind(b *testing.B) {
	s := newBenchServer(b)
	s.dir.Warm()
	rc := newRawClient(b, serve(b, s))
	req := rawBind(2, archiveDN, archivePW)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := rc.c.Write(req); err != nil {
			b.Fatal(err)
		}
		if m := rc.read(b); m.op != opBindResponse || resultOfDone(m) != directory.ResultSuccess {
			b.Fatal("bind failed")
		}
	}
}
