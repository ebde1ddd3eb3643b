package directory

import (
	"net"
	"time"
)

// Observer is told about operations and binds, for metrics. Its methods
// are called concurrently and must be fast.
type Observer interface {
	// Operation reports a finished request: op is "bind", "search",
	// "compare", "extended", "modify", ...; took is the time from reading
	// the request to its last response. The protocol layer reports it.
	Operation(op string, took time.Duration)
	// Bind reports a bind's outcome: method is "anonymous",
	// "service_account", "user", "unknown", ...; result is the LDAP result
	// code's name ("success", "invalidCredentials", ...); name is the bind
	// name and client the client's address (nil if unknown).
	Bind(method, result, name string, client net.Addr)
}

// WithObserver reports binds to o.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }
