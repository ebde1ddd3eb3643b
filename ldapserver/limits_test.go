package ldapserver

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/directory"
)

// Tests of the limits that keep one client from starving the others
// (issue 12): message sizes before a bind, the message timeout, the budget
// of unfinished messages, the first-bind timeout and the per-address
// connection limit. They talk over real sockets.

// dialFrom connects to addr from the loopback address local.
func dialFrom(tb testing.TB, addr, local string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// rawBound returns a raw connection bound as the archive service account.
func rawBound(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c := rawConn(tb, addr)
	mustWrite(tb, c, rawBind(1, archiveDN, archivePW))
	if p := readPacket(tb, c); resultOfPacket(p) != directory.ResultSuccess {
		tb.Fatalf("bind: %v", resultOfPacket(p))
	}
	return c
}

// bigSearch is a search message of about n bytes (a long attribute name
// in a presence filter).
func bigSearch(id int64, base string, n int) []byte {
	return rawSearch(id, base, rawPresent(strings.Repeat("x", n)))
}

// expectNotice checks that the server sends a Notice of Disconnection with
// code and closes c.
func expectNotice(tb testing.TB, c net.Conn, code directory.ResultCode) {
	tb.Helper()
	ps := expectClosed(tb, c)
	if len(ps) != 1 {
		tb.Fatalf("got %d packets before the close, want one notice", len(ps))
	}
	if id, op := packetOp(ps[0]); id != 0 || op != opExtendedResponse || resultOfPacket(ps[0]) != code {
		tb.Fatalf("got message %d op %d result %v, want a notice with %v", id, op, resultOfPacket(ps[0]), code)
	}
}

func TestConnUnboundMessageLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUnboundMessageBytes = 16 << 10
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)

	small := rawConn(t, addr)
	mustWrite(t, small, bigSearch(1, "", 12<<10))
	if p := readPacket(t, small); resultOfPacket(p) == 9999 {
		t.Fatal("a 12 KiB anonymous search got no result")
	}

	big := rawConn(t, addr)
	mustWrite(t, big, bigSearch(1, "", 20<<10)[:100]) // the header is enough
	expectNotice(t, big, directory.ResultProtocolError)

	// A failed bind does not lift the limit.
	failed := rawConn(t, addr)
	mustWrite(t, failed, rawBind(1, archiveDN, "wrong"))
	if p := readPacket(t, failed); resultOfPacket(p) != directory.ResultInvalidCredentials {
		t.Fatalf("bind with a wrong password: %v", resultOfPacket(p))
	}
	mustWrite(t, failed, bigSearch(2, testBase, 20<<10)[:100])
	expectNotice(t, failed, directory.ResultProtocolError)

	bound := rawBound(t, addr)
	mustWrite(t, bound, bigSearch(2, testBase, 200<<10))
	if p := readPacket(t, bound); resultOfPacket(p) == 9999 {
		t.Fatal("a 200 KiB search after a bind got no result")
	}
}

// A client that sends part of a message and stalls is closed after the
// message timeout, though the idle timeout is long; an idle connection is
// not.
func TestConnMessageTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = time.Hour
	cfg.FirstBindTimeout = -1
	cfg.MessageTimeout = 300 * time.Millisecond
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)

	idle := rawBound(t, addr)
	for _, tc := range []struct {
		name string
		conn net.Conn
	}{{"anonymous", rawConn(t, addr)}, {"bound", rawBound(t, addr)}} {
		msg := rawSearch(5, testBase, rawPresent("objectClass"))
		mustWrite(t, tc.conn, msg[:len(msg)-1])
		expectNotice(t, tc.conn, directory.ResultUnavailable)
	}
	mustWrite(t, idle, rawExtended(2, oidWhoAmI))
	if p := readPacket(t, idle); resultOfPacket(p) != directory.ResultSuccess {
		t.Fatalf("idle connection after the message timeout: %v", resultOfPacket(p))
	}
}

// The bytes of messages still arriving are bounded over all connections;
// the connection that would go past the bound is refused, and the bytes
// come back when messages complete or fail.
func TestConnUnfinishedBudget(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUnfinishedBytes = 256 << 10
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	budget := s.unfinished

	hog := rawBound(t, addr)
	msg := bigSearch(2, testBase, 512<<10)
	mustWrite(t, hog, msg[:300<<10])
	expectNotice(t, hog, directory.ResultBusy)
	if n := budget.used.Load(); n != 0 {
		t.Fatalf("%d bytes held after the refused message", n)
	}

	good := rawBound(t, addr)
	mustWrite(t, good, bigSearch(2, testBase, 200<<10))
	if p := readPacket(t, good); resultOfPacket(p) == 9999 {
		t.Fatal("a 200 KiB search within the budget got no result")
	}
	if n := budget.used.Load(); n != 0 {
		t.Fatalf("%d bytes held after a complete message", n)
	}
}

func TestConnFirstBindTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = time.Hour
	cfg.FirstBindTimeout = 300 * time.Millisecond
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)

	bound := rawBound(t, addr)
	anonymous := rawConn(t, addr)
	mustWrite(t, anonymous, rawSearch(1, "", rawPresent("objectClass")))
	readPacket(t, anonymous) // RootDSE reads are fine, but do not count as a bind
	failed := rawConn(t, addr)
	mustWrite(t, failed, rawBind(1, archiveDN, "wrong"))
	readPacket(t, failed)

	expectNotice(t, anonymous, directory.ResultUnavailable)
	expectNotice(t, failed, directory.ResultUnavailable)
	mustWrite(t, bound, rawExtended(2, oidWhoAmI))
	if p := readPacket(t, bound); resultOfPacket(p) != directory.ResultSuccess {
		t.Fatalf("bound connection after the first-bind timeout: %v", resultOfPacket(p))
	}
}

func TestConnPerAddressLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnectionsPerAddress = 2
	cfg.Directory.BindLimit.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}
	s, logs := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	closed := make(chan uint64, 8)
	s.mu.Lock()
	s.closedHook = func(id uint64) { closed <- id }
	s.mu.Unlock()

	bind := func(c net.Conn) {
		t.Helper()
		mustWrite(t, c, rawBind(1, archiveDN, archivePW))
		if p := readPacket(t, c); resultOfPacket(p) != directory.ResultSuccess {
			t.Fatalf("bind from %v: %v", c.LocalAddr(), resultOfPacket(p))
		}
	}
	first := dialFrom(t, addr, "127.0.0.1")
	bind(first)
	bind(dialFrom(t, addr, "127.0.0.1"))
	for range 3 {
		expectNotice(t, dialFrom(t, addr, "127.0.0.1"), directory.ResultBusy)
	}
	if n := strings.Count(logs.String(), "too many connections from one address"); n != 1 {
		t.Errorf("3 refusals logged %d times, want once (a client can cause them at will)", n)
	}

	bind(dialFrom(t, addr, "127.0.0.2")) // another address has its own share
	for range 4 {
		bind(dialFrom(t, addr, "127.0.0.3")) // trusted
	}

	first.Close()
	<-closed
	bind(dialFrom(t, addr, "127.0.0.1"))

	// Trusted networks reload with the bind limits.
	set := s.dir.Settings()
	set.BindLimit.TrustedNetworks = append(set.BindLimit.TrustedNetworks, netip.MustParsePrefix("127.0.0.0/30"))
	if err := s.dir.Reload(set); err != nil {
		t.Fatal(err)
	}
	bind(dialFrom(t, addr, "127.0.0.1"))
}

// FuzzFrameBuffered checks frameBuffered against readFrame: a message it
// says is buffered is read whole from the buffer (the server then sets no
// message deadline for it), and a budget sees every byte it gave back.
func FuzzFrameBuffered(f *testing.F) {
	f.Add(rawBind(1, archiveDN, archivePW))
	f.Add(rawSearch(2, testBase, rawPresent("objectClass")))
	f.Add(bigSearch(3, testBase, 5000))
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 3, 2, 1, 0})
	f.Add([]byte{0x30, 0x81})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), 64)
		if _, err := r.Peek(1); err != nil {
			return
		}
		buffered := frameBuffered(r)
		n := r.Buffered()
		budget := newByteBudget(1 << 20)
		frame, err := readFrame(r, nil, 1<<16, budget)
		if buffered && (err != nil && errors.Is(err, errMidFrame) || err == nil && len(frame) > n) {
			t.Fatalf("frameBuffered true with %d bytes buffered, readFrame: %d bytes, %v", n, len(frame), err)
		}
		if used := budget.used.Load(); used != 0 {
			t.Fatalf("budget holds %d bytes after readFrame", used)
		}
	})
}

// A full server closes its oldest connection that has not bound to admit
// a new one: a flood of idle connections from many addresses cannot keep
// a client that binds out. Bound and trusted connections stay.
func TestConnFullEvictsUnbound(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 3
	cfg.Directory.BindLimit.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)
	rootDSE := func(c net.Conn) {
		t.Helper()
		mustWrite(t, c, rawSearch(1, "", rawPresent("objectClass")))
		if p := readPacket(t, c); resultOfPacket(p) == 9999 {
			t.Fatal("no answer to a RootDSE read")
		}
	}
	trusted := dialFrom(t, addr, "127.0.0.9")
	rootDSE(trusted) // admitted, not bound, but trusted
	idle1, idle2 := dialFrom(t, addr, "127.0.0.2"), dialFrom(t, addr, "127.0.0.3")
	rootDSE(idle1)
	rootDSE(idle2) // the server is full: 2 unbound, 1 trusted

	good := rawBound(t, addr) // idle1, the oldest unbound, made room
	expectNotice(t, idle1, directory.ResultBusy)
	good2 := rawBound(t, addr) // then idle2
	expectNotice(t, idle2, directory.ResultBusy)

	// Only bound and trusted connections are left: a new one is refused.
	expectNotice(t, dialFrom(t, addr, "127.0.0.4"), directory.ResultBusy)
	for _, c := range []net.Conn{good, good2} {
		mustWrite(t, c, rawExtended(2, oidWhoAmI))
		if p := readPacket(t, c); resultOfPacket(p) != directory.ResultSuccess {
			t.Fatalf("bound connection after the evictions: %v", resultOfPacket(p))
		}
	}
	rootDSE(trusted)
}
