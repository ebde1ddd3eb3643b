// Package ldaptest serves an ldapserver.Server on loopback for the tests of
// the packages around it (bind proxy, portal, sync, end to end).
package ldaptest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/ldapserver"
)

// Serve serves srv on 127.0.0.1:0 until the test ends and returns its
// address. The cleanup closes srv and checks that Serve ended with
// ErrServerClosed.
func Serve(tb testing.TB, srv *ldapserver.Server) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	<-srv.Ready()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
		if err := <-errc; !errors.Is(err, ldapserver.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}
