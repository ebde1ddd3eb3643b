package ldapserver

import (
	"context"
	"net"
	"strings"
	"testing"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/store"
)

// TestLogClipsClientData: a client's long base DN and filter reach the log
// clipped (issue 12: 540 MB of log in 27 s from one connection).
func TestLogClipsClientData(t *testing.T) {
	s, buf := newTestServer(t, testConfig(t), testLive())
	addr := serve(t, s)
	c := rawBound(t, addr)
	base := "cn=" + strings.Repeat("b", 3000) + "," + testBase
	filter := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, ldap.FilterEqualityMatch, nil, "eq")
	filter.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "cn", "attr"))
	filter.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, strings.Repeat("f", 100<<10), "value"))
	mustWrite(t, c, rawSearch(2, base, filter))
	if p := readPacket(t, c); resultOfPacket(p) != directory.ResultNoSuchObject {
		t.Fatalf("search of a missing base: %v", resultOfPacket(p))
	}
	mustWrite(t, c, rawCompare(3, base, "cn", strings.Repeat("v", 10<<10)))
	readPacket(t, c)
	c.Close()
	out := buf.String()
	for _, want := range []string{`msg="ldap search"`, `msg="ldap compare"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 2<<10 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
	}
}

// TestConnDisconnectLogsOnce: requests that fail because the client is gone
// are no server error; the connection logs them once, at debug level.
func TestConnDisconnectLogsOnce(t *testing.T) {
	live := &store.Live{}
	live.Store(bigView(3000))
	s, buf := newTestServer(t, testConfig(t), live)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	s.requestHook = func(ctx context.Context, op byte, m *message) {
		if op == opSearchRequest {
			started <- struct{}{}
			<-release
		}
	}
	addr := serve(t, s)
	closed := make(chan uint64, 1)
	s.mu.Lock()
	s.closedHook = func(id uint64) { closed <- id }
	s.mu.Unlock()

	c := rawBound(t, addr)
	mustWrite(t, c, rawSearch(2, testBase, rawPresent("objectClass")), rawSearch(3, testBase, rawPresent("objectClass")))
	<-started
	<-started
	// The server can no longer write to the client, as when it left.
	s.mu.Lock()
	for _, sc := range s.conns {
		if err := sc.raw.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Unlock()
	// The client itself stays: were its close read first, the requests
	// would be cancelled instead of failing to write.
	close(release)
	<-closed
	c.Close()

	out := buf.String()
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("a client that left logged errors:\n%s", out)
	}
	if n := strings.Count(out, "ldap client gone with requests in flight"); n != 1 {
		t.Errorf("%d lines about the requests lost, want 1:\n%s", n, out)
	}
}

func rawCompare(id int64, dn, attr, value string) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opCompareRequest, nil, "compare")
	op.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, dn, "entry"))
	ava := asn1ber.NewSequence("ava")
	ava.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, attr, "attr"))
	ava.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, value, "value"))
	op.AppendChild(ava)
	return envelope(id, op)
}
