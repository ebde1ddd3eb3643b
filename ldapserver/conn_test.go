package ldapserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
)

// Raw-BER helpers: tests that need exact control over the bytes on the wire
// (malformed input, abandon, notices) talk to the server through these.

func rawConn(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// readPacket reads one BER packet, failing the test after 10s.
func readPacket(tb testing.TB, c net.Conn) *asn1ber.Packet {
	tb.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	p, err := asn1ber.ReadPacket(c)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	return p
}

// expectClosed checks that the server closes c (after any packets, which
// are returned).
func expectClosed(tb testing.TB, c net.Conn) []*asn1ber.Packet {
	tb.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	var out []*asn1ber.Packet
	for {
		p, err := asn1ber.ReadPacket(c)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isConnReset(err) {
				tb.Fatalf("want the connection closed, got %v", err)
			}
			return out
		}
		out = append(out, p)
	}
}

// packetOp returns the message ID and the protocolOp tag of an LDAPMessage.
func packetOp(p *asn1ber.Packet) (int64, byte) {
	if len(p.Children) < 2 {
		return -1, 0xff
	}
	id, _ := p.Children[0].Value.(int64)
	return id, byte(p.Children[1].Tag)
}

func resultOfPacket(p *asn1ber.Packet) directory.ResultCode {
	if len(p.Children) < 2 || len(p.Children[1].Children) < 1 {
		return 9999
	}
	v, err := asn1ber.ParseInt64(p.Children[1].Children[0].Data.Bytes())
	if err != nil {
		return 9999
	}
	return directory.ResultCode(v)
}

func envelope(id int64, op *asn1ber.Packet, controls ...*asn1ber.Packet) []byte {
	m := asn1ber.NewSequence("LDAPMessage")
	m.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, id, "id"))
	m.AppendChild(op)
	if len(controls) > 0 {
		cs := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, 0, nil, "controls")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		m.AppendChild(cs)
	}
	return m.Bytes()
}

func rawBind(id int64, dn, pw string) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opBindRequest, nil, "bind")
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 3, "version"))
	op.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, dn, "dn"))
	op.AppendChild(asn1ber.NewString(asn1ber.ClassContext, asn1ber.TypePrimitive, 0, pw, "pw"))
	return envelope(id, op)
}

// rawSearch encodes a search with filter given as BER.
func rawSearch(id int64, base string, filter *asn1ber.Packet, controls ...*asn1ber.Packet) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opSearchRequest, nil, "search")
	op.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, base, "base"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagEnumerated, 2, "scope"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagEnumerated, 0, "deref"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 0, "size"))
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 0, "time"))
	op.AppendChild(asn1ber.NewBoolean(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagBoolean, false, "types"))
	op.AppendChild(filter)
	attrs := asn1ber.NewSequence("attrs")
	attrs.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "1.1", "attr"))
	op.AppendChild(attrs)
	return envelope(id, op, controls...)
}

func rawPresent(attr string) *asn1ber.Packet {
	return asn1ber.NewString(asn1ber.ClassContext, asn1ber.TypePrimitive, ldap.FilterPresent, attr, "present")
}

func rawAbandon(id, target int64) []byte {
	return envelope(id, asn1ber.NewInteger(asn1ber.ClassApplication, asn1ber.TypePrimitive, opAbandonRequest, target, "abandon"))
}

func rawExtended(id int64, oid string) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opExtendedRequest, nil, "extended")
	op.AppendChild(asn1ber.NewString(asn1ber.ClassContext, asn1ber.TypePrimitive, 0, oid, "name"))
	return envelope(id, op)
}

func mustWrite(tb testing.TB, c net.Conn, bs ...[]byte) {
	tb.Helper()
	for _, b := range bs {
		if _, err := c.Write(b); err != nil {
			tb.Fatal(err)
		}
	}
}

// nested returns n nested SEQUENCEs around an INTEGER, in BER.
func nested(n int) []byte {
	inner := []byte{0x02, 0x01, 0x00}
	for range n {
		var e ber.Encoder
		m := e.Open(ber.TagSequence)
		e.B = append(e.B, inner...)
		e.Close(m)
		inner = e.B
	}
	return inner
}

func TestConnMalformedInput(t *testing.T) {
	_, addr, _ := startServer(t)
	other := dialBound(t, addr)

	// asn1-ber encodes a child when it is appended: build from the inside.
	deepFilter := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, ldap.FilterAnd, nil, "and")
	for range 5000 {
		outer := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, ldap.FilterAnd, nil, "and")
		outer.AppendChild(deepFilter)
		deepFilter = outer
	}

	tests := []struct {
		name string
		in   []byte
		// code is the result the server answers with before it closes
		// the connection (a notice), or, with keep, the result of the
		// request on a connection that stays open.
		code directory.ResultCode
		keep bool
	}{
		{name: "not a sequence", in: []byte{0x04, 0x03, 'a', 'b', 'c'}, code: directory.ResultProtocolError},
		{name: "indefinite length", in: []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}, code: directory.ResultProtocolError},
		{name: "five length octets", in: []byte{0x30, 0x85, 0, 0, 0, 0, 1, 0}, code: directory.ResultProtocolError},
		{name: "empty sequence", in: []byte{0x30, 0x00}, code: directory.ResultProtocolError},
		{name: "no protocolOp", in: []byte{0x30, 0x03, 0x02, 0x01, 0x01}, code: directory.ResultProtocolError},
		{name: "negative message id", in: []byte{0x30, 0x05, 0x02, 0x01, 0xff, 0x42, 0x00}, code: directory.ResultProtocolError},
		{name: "child longer than parent", in: []byte{0x30, 0x05, 0x02, 0x09, 0x01, 0x42, 0x00}, code: directory.ResultProtocolError},
		{name: "unknown op", in: []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x7e, 0x00}, code: directory.ResultProtocolError},
		{name: "response as request", in: []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x61, 0x00}, code: directory.ResultProtocolError},
		{name: "high tag number", in: []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x7f, 0x81, 0x00}, code: directory.ResultProtocolError},
		{name: "deeply nested envelope", in: append([]byte{0x30, 0x83, 0, 0, 0}, nested(20000)...), code: directory.ResultProtocolError},
		{name: "bad controls", in: envelope(1, asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypePrimitive, opDelRequest, "x", "del"), asn1ber.DecodePacket(nested(50))), code: directory.ResultProtocolError},
		{name: "bind without fields", in: envelope(1, asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opBindRequest, nil, "bind")), code: directory.ResultProtocolError, keep: true},
		{name: "search without fields", in: envelope(1, asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opSearchRequest, nil, "search")), code: directory.ResultProtocolError, keep: true},
		{name: "deeply nested filter", in: rawSearch(1, "", deepFilter), code: directory.ResultAdminLimitExceeded, keep: true},
		{name: "bad filter choice", in: rawSearch(1, "", asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "x", "f")), code: directory.ResultProtocolError, keep: true},
		{name: "unknown extended", in: rawExtended(1, "1.2.3.4.5"), code: directory.ResultProtocolError, keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawConn(t, addr)
			in := tt.in
			if in[0] == 0x30 && in[1] == 0x83 { // fix up the 3-octet length
				n := len(in) - 5
				in[2], in[3], in[4] = byte(n>>16), byte(n>>8), byte(n)
			}
			mustWrite(t, c, in)
			if tt.keep {
				p := readPacket(t, c)
				if id, _ := packetOp(p); id != 1 || resultOfPacket(p) != tt.code {
					t.Errorf("response id %d code %v, want %v", id, resultOfPacket(p), tt.code)
				}
				// The connection still works.
				mustWrite(t, c, rawExtended(2, oidWhoAmI))
				if p := readPacket(t, c); resultOfPacket(p) != directory.ResultSuccess {
					t.Errorf("after: %v", resultOfPacket(p))
				}
				return
			}
			ps := expectClosed(t, c)
			if len(ps) != 1 {
				t.Fatalf("%d packets before close, want a notice", len(ps))
			}
			if id, op := packetOp(ps[0]); id != 0 || op != opExtendedResponse || resultOfPacket(ps[0]) != tt.code {
				t.Errorf("notice: id %d op %d code %v", id, op, resultOfPacket(ps[0]))
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		c := rawConn(t, addr)
		msg := rawBind(1, archiveDN, archivePW)
		mustWrite(t, c, msg[:len(msg)-3])
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if ps := expectClosed(t, c); len(ps) != 0 {
			t.Errorf("%d responses to a truncated message", len(ps))
		}
	})
	// The server keeps serving the others.
	if _, err := ldapSearch(other, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("other connection: %v", err)
	}
	if _, err := ldapSearch(dialBound(t, addr), testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("new connection: %v", err)
	}
}

// blockingServer starts a server whose searches with base "cn=slow" wait
// until their context ends (the cause is sent on causes) or a value is
// sent on release.
func blockingServer(t *testing.T, cfg Config) (s *Server, addr string, started <-chan struct{}, causes <-chan error, release chan<- struct{}) {
	t.Helper()
	s, _ = newTestServer(t, cfg, testLive())
	st := make(chan struct{}, 16)
	cs := make(chan error, 16)
	rel := make(chan struct{})
	s.requestHook = func(ctx context.Context, op byte, m *message) {
		if op != opSearchRequest || !bytes.Contains(m.body.Content, []byte("cn=slow")) {
			return
		}
		st <- struct{}{}
		select {
		case <-ctx.Done():
			cs <- causeOf(ctx)
		case <-rel:
		}
	}
	return s, serve(t, s), st, cs, rel
}

func TestConnAbandon(t *testing.T) {
	_, addr, started, causes, _ := blockingServer(t, testConfig(t))
	c := rawConn(t, addr)
	mustWrite(t, c, rawBind(1, archiveDN, archivePW))
	if p := readPacket(t, c); resultOfPacket(p) != directory.ResultSuccess {
		t.Fatalf("bind: %v", resultOfPacket(p))
	}
	mustWrite(t, c, rawSearch(2, "cn=slow", rawPresent("objectClass")))
	<-started
	mustWrite(t, c, rawAbandon(3, 2))
	if err := <-causes; !errors.Is(err, errAbandoned) {
		t.Errorf("search context ended with %v", err)
	}
	// The abandoned search gets no response: the next one is for message 4.
	mustWrite(t, c, rawSearch(4, "", rawPresent("objectClass")))
	for {
		p := readPacket(t, c)
		id, op := packetOp(p)
		if id != 4 {
			t.Fatalf("response to message %d (op %d)", id, op)
		}
		if op == opSearchDone {
			break
		}
	}
}

func TestConnDisconnectCancels(t *testing.T) {
	_, addr, started, causes, _ := blockingServer(t, testConfig(t))
	c := dialBound(t, addr)
	go func() { _, _ = ldapSearch(c, "cn=slow", ldap.ScopeBaseObject, "(objectClass=*)") }()
	<-started
	c.Close()
	if err := <-causes; !errors.Is(err, errDisconnected) {
		t.Errorf("search context ended with %v", err)
	}
}

// TestConnDisconnectCancelsRepeatedIDs: two requests in flight with the
// same message ID (a client's mistake) are both cancelled when the client
// goes; Abandon reaches the later.
func TestConnDisconnectCancelsRepeatedIDs(t *testing.T) {
	_, addr, started, causes, _ := blockingServer(t, testConfig(t))
	c := rawConn(t, addr)
	mustWrite(t, c, rawBind(1, archiveDN, archivePW))
	readPacket(t, c)
	mustWrite(t, c, rawSearch(2, "cn=slow", rawPresent("objectClass")), rawSearch(2, "cn=slow", rawPresent("objectClass")))
	<-started
	<-started
	mustWrite(t, c, rawAbandon(3, 2))
	if err := <-causes; !errors.Is(err, errAbandoned) {
		t.Errorf("first cancelled search ended with %v, want abandoned", err)
	}
	c.Close()
	if err := <-causes; !errors.Is(err, errDisconnected) {
		t.Errorf("second search ended with %v, want disconnected", err)
	}
}

// TestConnIdleTimeoutAfterLastMessage: the idle timeout counts from the
// last message, also when messages come faster than the read deadline is
// renewed (deadlineClose).
func TestConnIdleTimeoutAfterLastMessage(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 400 * time.Millisecond
	s, _ := newTestServer(t, cfg, testLive())
	c := rawConn(t, serve(t, s))
	start := time.Now()
	var last time.Time
	for i := int64(1); time.Since(start) < 2*cfg.IdleTimeout; i++ {
		mustWrite(t, c, rawExtended(i, oidWhoAmI))
		if p := readPacket(t, c); resultOfPacket(p) != directory.ResultSuccess {
			t.Fatalf("who am i: %v", resultOfPacket(p))
		}
		last = time.Now()
		time.Sleep(cfg.IdleTimeout / 40)
	}
	ps := expectClosed(t, c)
	if d := time.Since(last); d < cfg.IdleTimeout {
		t.Errorf("closed %v after the last message, want at least %v", d, cfg.IdleTimeout)
	}
	if len(ps) != 1 || resultOfPacket(ps[0]) != directory.ResultUnavailable {
		t.Errorf("want one notice, got %d packets", len(ps))
	}
}

func TestConnCloseAnswersRequestsInProgress(t *testing.T) {
	s, addr, started, _, _ := blockingServer(t, testConfig(t))
	c := rawConn(t, addr)
	mustWrite(t, c, rawBind(1, archiveDN, archivePW))
	readPacket(t, c)
	mustWrite(t, c, rawSearch(2, "cn=slow", rawPresent("objectClass")))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ps := expectClosed(t, c)
	var got []string
	for _, p := range ps {
		id, op := packetOp(p)
		got = append(got, fmt.Sprintf("%d/%d/%v", id, op, resultOfPacket(p)))
	}
	// The search is answered (unavailable), then the notice.
	if len(ps) != 2 {
		t.Fatalf("packets %v", got)
	}
	if id, op := packetOp(ps[0]); id != 2 || op != opSearchDone || resultOfPacket(ps[0]) != directory.ResultUnavailable {
		t.Errorf("search result: %v", got)
	}
	if id, op := packetOp(ps[1]); id != 0 || op != opExtendedResponse || resultOfPacket(ps[1]) != directory.ResultUnavailable {
		t.Errorf("notice: %v", got)
	}
}

func TestConnIdleTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 200 * time.Millisecond
	_, addr, started, causes, _ := blockingServer(t, cfg)

	idle := rawConn(t, addr)
	start := time.Now()
	ps := expectClosed(t, idle)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
	if len(ps) != 1 || resultOfPacket(ps[0]) != directory.ResultUnavailable {
		t.Errorf("want one notice, got %d packets", len(ps))
	}

	// A connection waiting for a long request is not idle.
	busy := rawConn(t, addr)
	mustWrite(t, busy, rawBind(1, archiveDN, archivePW))
	readPacket(t, busy)
	mustWrite(t, busy, rawSearch(2, "cn=slow", rawPresent("objectClass")))
	<-started
	time.Sleep(3 * cfg.IdleTimeout) // the idle timeout must pass to show it does not fire
	mustWrite(t, busy, rawAbandon(3, 2))
	<-causes
	mustWrite(t, busy, rawExtended(4, oidWhoAmI))
	if p := readPacket(t, busy); resultOfPacket(p) != directory.ResultSuccess {
		t.Errorf("who am i after a long request: %v", resultOfPacket(p))
	}
}

func TestConnLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 2
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	closed := make(chan uint64, 4)
	s.mu.Lock()
	s.closedHook = func(id uint64) { closed <- id }
	s.mu.Unlock()
	a, b := dialBound(t, addr), dialBound(t, addr)
	third := rawConn(t, addr)
	ps := expectClosed(t, third)
	if len(ps) != 1 || resultOfPacket(ps[0]) != directory.ResultBusy {
		t.Errorf("third connection: %d packets", len(ps))
	}
	if _, err := ldapSearch(b, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("second connection: %v", err)
	}
	a.Close()
	<-closed
	if _, err := ldapSearch(dialBound(t, addr), testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("after one left: %v", err)
	}
}

// A connection with MaxRequestsPerConn requests in flight is not read
// until one of them ends (an Abandon cannot overtake then).
func TestConnRequestsInFlightBound(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxRequestsPerConn = 2
	_, addr, started, _, release := blockingServer(t, cfg)
	c := rawConn(t, addr)
	mustWrite(t, c, rawBind(1, archiveDN, archivePW))
	readPacket(t, c)
	mustWrite(t, c, rawSearch(2, "cn=slow", rawPresent("objectClass")), rawSearch(3, "cn=slow", rawPresent("objectClass")))
	<-started
	<-started
	mustWrite(t, c, rawSearch(4, "cn=slow", rawPresent("objectClass")))
	select {
	case <-started:
		t.Fatal("a third request started")
	case <-time.After(100 * time.Millisecond):
	}
	release <- struct{}{}
	<-started // the third one now runs
	release <- struct{}{}
	release <- struct{}{}
	got := map[int64]directory.ResultCode{}
	for len(got) < 3 {
		p := readPacket(t, c)
		id, _ := packetOp(p)
		got[id] = resultOfPacket(p)
	}
	want := map[int64]directory.ResultCode{2: directory.ResultNoSuchObject, 3: directory.ResultNoSuchObject, 4: directory.ResultNoSuchObject}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
}

func TestConnPanicInCompare(t *testing.T) {
	s, buf := newTestServer(t, testConfig(t), testLive())
	s.requestHook = func(_ context.Context, op byte, _ *message) {
		if op == opCompareRequest {
			panic("compare panic")
		}
	}
	addr := serve(t, s)
	c := dialBound(t, addr)
	if _, err := c.Compare(aliceDN, "uid", "alice"); ldapCode(err) != ldap.LDAPResultOther {
		t.Errorf("compare: %v, want other", err)
	}
	if _, err := c.WhoAmI(nil); err != nil {
		t.Errorf("after panic: %v", err)
	}
	if !strings.Contains(buf.String(), "compare panic") {
		t.Error("panic not logged")
	}
}

func TestServerProtocolSurface(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)

	t.Run("compare", func(t *testing.T) {
		for _, tc := range []struct {
			dn, attr, value string
			want            bool
			code            uint16
		}{
			{aliceDN, "uid", "ALICE", true, 0},
			{aliceDN, "uid", "bob", false, 0},
			{aliceDN, "mail", "alice@example.com", true, 0},
			{aliceDN, "memberOf", "CN=Staff,ou=groups,dc=example,dc=com", true, 0},
			{staffDN, "member", "uid=carol,ou=people,dc=example,dc=com", true, 0},
			{staffDN, "member", aliceDN, false, 0},
			{aliceDN, "uniqueMember", "x", false, ldap.LDAPResultUndefinedAttributeType},
			{aliceDN, "description", "x", false, ldap.LDAPResultNoSuchAttribute},
			{"uid=nobody,ou=people," + testBase, "uid", "nobody", false, ldap.LDAPResultNoSuchObject},
		} {
			got, err := c.Compare(tc.dn, tc.attr, tc.value)
			if got != tc.want || ldapCode(err) != tc.code {
				t.Errorf("compare %s %s=%s: %v %v, want %v %d", tc.dn, tc.attr, tc.value, got, err, tc.want, tc.code)
			}
		}
		anon := dial(t, addr)
		if _, err := anon.Compare(aliceDN, "uid", "alice"); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
			t.Errorf("anonymous compare: %v", err)
		}
	})
	t.Run("who am i", func(t *testing.T) {
		r, err := c.WhoAmI(nil)
		if err != nil || r.AuthzID != "dn:"+archiveDN {
			t.Errorf("bound: %+v %v", r, err)
		}
		r, err = dial(t, addr).WhoAmI(nil)
		if err != nil || r.AuthzID != "" {
			t.Errorf("anonymous: %+v %v", r, err)
		}
	})
	t.Run("password modify", func(t *testing.T) {
		_, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "old", "new"))
		if ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
			t.Errorf("password modify: %v", err)
		}
	})
	t.Run("sasl", func(t *testing.T) {
		s := dial(t, addr)
		if err := s.ExternalBind(); ldapCode(err) != ldap.LDAPResultAuthMethodNotSupported {
			t.Errorf("SASL EXTERNAL: %v", err)
		}
		if _, err := ldapSearch(s, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
			t.Errorf("after SASL: %v", err)
		}
	})
	t.Run("rebind", func(t *testing.T) {
		r := dialBound(t, addr)
		if err := r.Bind(backupDN, backupPW); err != nil {
			t.Fatal(err)
		}
		if w, err := r.WhoAmI(nil); err != nil || w.AuthzID != "dn:"+backupDN {
			t.Errorf("after rebind: %+v %v", w, err)
		}
	})
	t.Run("critical control", func(t *testing.T) {
		req := ldap.NewSearchRequest(testBase, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil,
			[]ldap.Control{ldap.NewControlString("1.2.3.4.5", true, "")})
		if _, err := c.Search(req); ldapCode(err) != ldap.LDAPResultUnavailableCriticalExtension {
			t.Errorf("unknown critical control: %v", err)
		}
		req.Controls = []ldap.Control{ldap.NewControlString("1.2.3.4.5", false, "")}
		if _, err := c.Search(req); err != nil {
			t.Errorf("unknown non-critical control: %v", err)
		}
		if err := c.Del(&ldap.DelRequest{DN: aliceDN, Controls: []ldap.Control{ldap.NewControlPaging(10)}}); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
			t.Errorf("delete with a non-critical paging control: %v", err)
		}
	})
	t.Run("time limit", func(t *testing.T) {
		r, err := c.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 1, false, "(uid=alice)", []string{"1.1"}, nil))
		if err != nil || len(r.Entries) != 1 {
			t.Errorf("time limit 1s: %v %v", r, err)
		}
	})
}

// The scenario of a Monday morning, over a real socket with the default
// limits: fifty-five users mistype their passwords through the archive
// server within minutes; the archive server's service account still binds,
// and, from a trusted network, so do the other users.
func TestServerRelayNotLockedOut(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			cfg := testConfig(t)
			if trusted {
				cfg.Directory.BindLimit.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			s, _ := newTestServer(t, cfg, testLive(), WithUserAuthenticator(appPassword("user-app-pw")))
			addr := serve(t, s)
			c := dial(t, addr)
			for i := range 55 {
				if err := c.Bind("user"+strconv.Itoa(i)+"@example.com", "typo"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
					t.Fatal(err)
				}
			}
			if err := dial(t, addr).Bind(archiveDN, archivePW); err != nil {
				t.Errorf("service account after 55 typos: %v", err)
			}
			err := dial(t, addr).Bind(aliceDN, "user-app-pw")
			if trusted && err != nil {
				t.Errorf("user from a trusted relay after 55 typos: %v", err)
			}
			if !trusted && ldapCode(err) != ldap.LDAPResultInvalidCredentials {
				t.Errorf("user from an untrusted spraying address: %v, want invalidCredentials", err)
			}
		})
	}
}

func TestServerPaging(t *testing.T) {
	live := testLive()
	live.Store(bigView(57))
	s, _ := newTestServer(t, testConfig(t), live)
	addr := serve(t, s)
	c := dialBound(t, addr)
	req := func() *ldap.SearchRequest {
		return ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"uid"}, nil)
	}
	all, err := c.Search(req())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint32{1, 7, 10, 100, 1000} {
		paged, err := c.SearchWithPaging(req(), size)
		if err != nil {
			t.Fatalf("page size %d: %v", size, err)
		}
		if diff := cmp.Diff(entryDNs(paged), entryDNs(all)); diff != "" {
			t.Errorf("page size %d (-got +want):\n%s", size, diff)
		}
	}

	// An indexed filter pages as well.
	idx := req()
	idx.Filter = "(memberOf=cn=groupg000,ou=groups,dc=example,dc=com)"
	want, err := c.Search(idx)
	if err != nil || len(want.Entries) < 2 {
		t.Fatalf("%v %v", want, err)
	}
	idx2 := req()
	idx2.Filter = idx.Filter
	got, err := c.SearchWithPaging(idx2, 1)
	if err != nil || !cmp.Equal(entryDNs(got), entryDNs(want)) {
		t.Errorf("indexed: %v %v", entryDNs(got), err)
	}

	page := func(c *ldap.Conn, r *ldap.SearchRequest, size uint32, cookie []byte) (*ldap.SearchResult, []byte, error) {
		pc := ldap.NewControlPaging(size)
		pc.SetCookie(cookie)
		r.Controls = []ldap.Control{pc}
		res, err := c.Search(r)
		if err != nil {
			return res, nil, err
		}
		rc, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if rc == nil {
			return res, nil, errors.New("no paging control in the response")
		}
		return res, rc.Cookie, nil
	}
	first, cookie, err := page(c, req(), 5, nil)
	if err != nil || len(first.Entries) != 5 || len(cookie) == 0 {
		t.Fatalf("first page: %d entries, cookie %q, %v", len(first.Entries), cookie, err)
	}
	// A cookie is bound to the query and the connection, and used once.
	other := req()
	other.Filter = "(objectClass=person)"
	if _, _, err := page(c, other, 5, cookie); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("cookie for another query: %v", err)
	}
	first, cookie, err = page(c, req(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := page(dialBound(t, addr), req(), 5, cookie); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("cookie on another connection: %v", err)
	}
	if _, _, err := page(c, req(), 5, []byte("bogus")); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("bogus cookie: %v", err)
	}
	second, next, err := page(c, req(), 5, cookie)
	if err != nil || len(second.Entries) != 5 || second.Entries[0].DN == first.Entries[0].DN {
		t.Fatalf("second page: %v %v", entryDNs(second), err)
	}
	if _, _, err := page(c, req(), 5, cookie); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("reused cookie: %v", err)
	}
	// Size 0 ends the paged search.
	res, last, err := page(c, req(), 0, next)
	if err != nil || len(res.Entries) != 0 || len(last) != 0 {
		t.Errorf("abandon paged search: %d entries, cookie %q, %v", len(res.Entries), last, err)
	}

	// A view swap mid-read does not disturb a paged read: it finishes on
	// the view it started on.
	_, cookie, err = page(c, req(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	live.Store(bigView(3))
	n := 10
	for len(cookie) > 0 {
		var r *ldap.SearchResult
		r, cookie, err = page(c, req(), 10, cookie)
		if err != nil {
			t.Fatal(err)
		}
		n += len(r.Entries)
	}
	if n != len(all.Entries) {
		t.Errorf("paged read across a view swap: %d entries, want %d", n, len(all.Entries))
	}
}

func TestServerPagingServerSizeLimit(t *testing.T) {
	live := testLive()
	live.Store(bigView(30))
	cfg := testConfig(t)
	cfg.Directory.SizeLimit = 10
	s, _ := newTestServer(t, cfg, live)
	addr := serve(t, s)
	c := dialBound(t, addr)
	req := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil)
	if _, err := c.Search(req); ldapCode(err) != ldap.LDAPResultSizeLimitExceeded {
		t.Errorf("unpaged: %v", err)
	}
	r, err := c.SearchWithPaging(req, 25)
	if err != nil || len(r.Entries) != 30 {
		t.Errorf("paged past the server limit: %d entries, %v", len(r.Entries), err)
	}
}

// FuzzDecodeMessage feeds the request decoder arbitrary bytes: framing,
// envelope, controls and the filter conversion must never panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(rawBind(1, archiveDN, archivePW))
	f.Add(rawSearch(2, testBase, rawPresent("objectClass")))
	f.Add(rawSearch(3, "", mustFilterPacket(f, "(&(uid=a*b*c)(|(mail=x)(!(cn>=m))))"), ldap.NewControlPaging(10).Encode()))
	f.Add(rawAbandon(4, 2))
	f.Add(rawExtended(5, oidWhoAmI))
	f.Add([]byte{0x30, 0x80})
	f.Add(nested(40))
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, err := readFrame(bufio.NewReader(bytes.NewReader(b)), nil, 1<<16, nil)
		if err != nil {
			return
		}
		m, err := decodeMessage(frame)
		if err != nil {
			return
		}
		for _, c := range m.controls {
			_, _, _ = parsePagingControl(c)
		}
		_, _ = extendedName(m)
		if m.op == opSearchRequest && m.body.Constructed() {
			it := m.body.Children()
			for it.More() {
				el := it.Next()
				if el.Class() == ber.ClassContext {
					_, _ = directory.ParseFilterBER(el)
				}
			}
		}
	})
}

func mustFilterPacket(tb testing.TB, s string) *asn1ber.Packet {
	tb.Helper()
	p, err := ldap.CompileFilter(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestConnTLSHandshakeTimeout(t *testing.T) {
	certs := testTLS(t)
	cfg := testConfig(t)
	cfg.TLS, cfg.LDAPS = certs.server, true
	cfg.TLSHandshakeTimeout = 100 * time.Millisecond
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	c := rawConn(t, addr) // never starts the handshake
	start := time.Now()
	if ps := expectClosed(t, c); len(ps) != 0 {
		t.Errorf("%d packets", len(ps))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestConnStartTLSTwice(t *testing.T) {
	certs := testTLS(t)
	cfg := testConfig(t)
	cfg.TLS = certs.server
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	c := rawConn(t, addr)
	mustWrite(t, c, rawExtended(1, oidStartTLS))
	p := readPacket(t, c)
	if resultOfPacket(p) != directory.ResultSuccess || len(p.Children[1].Children) < 4 || p.Children[1].Children[3].Data.String() != oidStartTLS {
		t.Fatalf("StartTLS: %v", resultOfPacket(p))
	}
	tc := tls.Client(c, certs.client)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, tc, rawExtended(2, oidStartTLS))
	if p := readPacket(t, tc); resultOfPacket(p) != directory.ResultOperationsError {
		t.Errorf("second StartTLS: %v, want operationsError", resultOfPacket(p))
	}
	mustWrite(t, tc, rawBind(3, archiveDN, archivePW))
	if p := readPacket(t, tc); resultOfPacket(p) != directory.ResultSuccess {
		t.Errorf("bind over TLS: %v", resultOfPacket(p))
	}
}

func TestServerSort(t *testing.T) {
	live := testLive()
	live.Store(bigView(23))
	s, _ := newTestServer(t, testConfig(t), live)
	addr := serve(t, s)
	c := dialBound(t, addr)
	search := func(keys []*ldap.SortKey, extra ...ldap.Control) *ldap.SearchRequest {
		ctls := append([]ldap.Control{ldap.NewControlServerSideSortingWithSortKeys(keys)}, extra...)
		return ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=person)", []string{"sn"}, ctls)
	}
	sns := func(r *ldap.SearchResult) []string {
		var out []string
		for _, e := range r.Entries {
			out = append(out, e.GetAttributeValue("sn"))
		}
		return out
	}
	var want []string
	for i := range 23 {
		want = append(want, fmt.Sprintf("Family%d", i))
	}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })

	r, err := c.Search(search([]*ldap.SortKey{{AttributeType: "sn"}}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sns(r), want); diff != "" {
		t.Errorf("sorted by sn (-got +want):\n%s", diff)
	}
	if res, ok := ldap.FindControl(r.Controls, ldap.ControlTypeServerSideSortingResult).(*ldap.ControlServerSideSortingResult); !ok || res.Result != 0 {
		t.Errorf("sort result control: %v", r.Controls)
	}
	r, err = c.Search(search([]*ldap.SortKey{{AttributeType: "surname", Reverse: true}}))
	if err != nil || !cmp.Equal(sns(r), reversed(want)) {
		t.Errorf("reverse: %v %v", sns(r), err)
	}
	// Sorted and paged: the pages follow the sorted order.
	r, err = c.SearchWithPaging(search([]*ldap.SortKey{{AttributeType: "sn"}}), 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sns(r), want); diff != "" {
		t.Errorf("sorted and paged (-got +want):\n%s", diff)
	}
	// A type without an ordering rule: a non-critical sort is ignored.
	r, err = c.Search(search([]*ldap.SortKey{{AttributeType: "memberOf"}}))
	if err != nil || len(r.Entries) != 23 {
		t.Errorf("non-critical unsortable: %d entries, %v", len(r.Entries), err)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestServerRequireTLS(t *testing.T) {
	certs := testTLS(t)
	cfg := testConfig(t)
	cfg.TLS, cfg.RequireTLS = certs.server, true
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	c := dial(t, addr)
	if err := c.Bind(archiveDN, archivePW); ldapCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Errorf("bind before TLS: %v", err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); ldapCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Errorf("search before TLS: %v", err)
	}
	if r, err := ldapSearch(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "supportedExtension"); err != nil || len(r.Entries) != 1 {
		t.Errorf("RootDSE before TLS: %v", err)
	}
	if err := c.StartTLS(certs.client); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Errorf("bind after StartTLS: %v", err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("search after StartTLS: %v", err)
	}
	cfg.TLS = nil
	if err := cfg.Validate(); err == nil {
		t.Error("RequireTLS without TLS validates")
	}
}

// A message larger than one read chunk (64 KiB) arrives whole.
func TestConnLargeMessage(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)
	var b strings.Builder
	b.WriteString("(|")
	pad := strings.Repeat("x", 100)
	for i := range 1500 {
		fmt.Fprintf(&b, "(uid=%s%d)", pad, i)
	}
	b.WriteString("(uid=carol))")
	if b.Len() < 128<<10 {
		t.Fatalf("filter only %d bytes", b.Len())
	}
	r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, b.String(), "1.1")
	if err != nil || !cmp.Equal(entryDNs(r), []string{"uid=carol,ou=people,dc=example,dc=com"}) {
		t.Errorf("%v %v", entryDNs(r), err)
	}
}

// TestIdleConnHoldsNoWriteBuffer: a connection takes a write buffer for a
// response and gives it back with the flush, so idle clients cost none.
func TestIdleConnHoldsNoWriteBuffer(t *testing.T) {
	s, _ := newTestServer(t, testConfig(t), testLive())
	c := dialBound(t, serve(t, s))
	if _, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d connections", len(s.conns))
	}
	for _, sc := range s.conns {
		sc.wmu.Lock()
		held := sc.bw != nil
		sc.wmu.Unlock()
		if held {
			t.Error("an idle connection holds its write buffer")
		}
	}
}
