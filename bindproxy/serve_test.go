package bindproxy_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/ldapserver"
)

// serveLDAP serves srv on 127.0.0.1:0 until the test ends and returns its
// address.
func serveLDAP(tb testing.TB, srv *ldapserver.Server) string {
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
		_ = srv.Close(ctx)
		<-errc
	})
	return l.Addr().String()
}
