package ldapserver

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestListenAndServeKeepAlive: with an idle timeout (the default) the
// accepted connections go without TCP keepalive; without one they have it.
func TestListenAndServeKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name string
		idle time.Duration
		want int
	}{
		{"idle timeout", 0, 0},
		{"no idle timeout", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.IdleTimeout = tc.idle
			s, _ := newTestServer(t, cfg, testLive())
			errc := make(chan error, 1)
			go func() { errc <- s.ListenAndServe("127.0.0.1:0") }()
			<-s.Ready()
			if s.Addr() == nil {
				t.Fatalf("ListenAndServe: %v", <-errc)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.Close(ctx)
				if err := <-errc; !errors.Is(err, ErrServerClosed) {
					t.Errorf("ListenAndServe: %v", err)
				}
			})
			c := rawConn(t, s.Addr().String())
			mustWrite(t, c, rawExtended(1, oidWhoAmI))
			readPacket(t, c) // the server has the connection now
			s.mu.Lock()
			var raw net.Conn
			for _, sc := range s.conns {
				raw = sc.raw
			}
			s.mu.Unlock()
			rc, err := raw.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			if err := rc.Control(func(fd uintptr) {
				got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			}); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if got != tc.want {
				t.Errorf("SO_KEEPALIVE = %d, want %d", got, tc.want)
			}
		})
	}
}
