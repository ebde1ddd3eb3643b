package ldapserver

import (
	"net"
	"time"
)

// Observer is told about operations and binds, for metrics. Its methods
// are called concurrently and must be fast.
type Observer interface {
	// Operation reports a finished request: op is "bind", "search",
	// "compare", "extended", "modify", ...; took is the time from reading
	// the request to its last response.
	Operation(op string, took time.Duration)
	// Bind reports a bind's outcome: method is "anonymous",
	// "service_account", "user", "unknown", ...; result is the LDAP result
	// code's name ("success", "invalidCredentials", ...); name is the bind
	// name and client the client's address ("" if unknown).
	Bind(method, result, name, client string)
}

// WithObserver reports operations and binds to o.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

func (d *Directory) observeOp(op byte, start time.Time) {
	if o := d.ext.obs; o != nil {
		o.Operation(opNames[op], time.Since(start))
	}
}

func (d *Directory) observeBind(method string, code ResultCode, name string, client net.Addr) {
	if o := d.ext.obs; o != nil {
		c := ""
		if client != nil {
			c = client.String()
		}
		o.Bind(method, code.String(), name, c)
	}
}

// OpenConns returns the number of open client connections.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
