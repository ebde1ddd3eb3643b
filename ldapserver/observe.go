package ldapserver

import (
	"time"

	"github.com/ldapgate/ldapgate/directory"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	dir      []directory.Option
	observer directory.Observer
	beside   *Server
}

// Beside makes the server a second listener beside s (LDAPS beside LDAP),
// whose Config it must share apart from LDAPS and TLS: its directory is
// s's view (see directory.Beside: the same trees, bind cache and failed-
// bind limiter), and both count against one budget of bytes in unfinished
// messages (Config.MaxUnfinishedBytes). Reload both alike.
func Beside(s *Server) Option { return func(o *options) { o.beside = s } }

// WithClock sets the clock of the failed-bind limiter and of certificate
// validity (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.dir = append(o.dir, directory.WithClock(now)) }
}

// WithUserAuthenticator lets users bind (see directory.UserAuthenticator).
// Without it every user bind fails with invalidCredentials.
func WithUserAuthenticator(a directory.UserAuthenticator) Option {
	return func(o *options) { o.dir = append(o.dir, directory.WithUserAuthenticator(a)) }
}

// WithObserver reports operations and binds to o.
func WithObserver(o directory.Observer) Option {
	return func(opts *options) {
		opts.observer = o
		opts.dir = append(opts.dir, directory.WithObserver(o))
	}
}

func (s *Server) observeOp(op byte, start time.Time) {
	if o := s.observer; o != nil {
		o.Operation(opNames[op], time.Since(start))
	}
}

// OpenConns returns the number of open client connections.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
