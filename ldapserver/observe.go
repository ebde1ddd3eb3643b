package ldapserver

import (
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
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
	// name and client the client's address (nil if unknown).
	Bind(method, result, name string, client net.Addr)
}

// WithObserver reports operations and binds to o.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

func (d *Directory) observeOp(op byte, start time.Time) {
	if o := d.ext.obs; o != nil {
		o.Operation(opNames[op], time.Since(start))
	}
}

// OpenConns returns the number of open client connections.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// maxLoggedBytes bounds what a log record copies of text a client sent
// (DNs, names): one request cannot make a record large.
const maxLoggedBytes = 256

// clientText returns s, a client's text for the log, cut to
// maxLoggedBytes (at a character boundary) and marked with its length.
func clientText(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	cut := s[:maxLoggedBytes]
	for i := 0; i < utf8.UTFMax && !utf8.ValidString(cut); i++ {
		cut = cut[:len(cut)-1]
	}
	return cut + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// quietLog lets the first of a kind of record through per key and period
// and counts the others, so that a client repeating a refused request
// writes a line a minute, not one a request.
type quietLog struct {
	mu     sync.Mutex
	now    func() time.Time
	period time.Duration
	keys   map[string]*quietKey
}

type quietKey struct {
	since      time.Time
	suppressed int
}

// maxQuietKeys bounds the memory of a quietLog; beyond it, it starts over.
const maxQuietKeys = 4096

func newQuietLog(now func() time.Time, period time.Duration) *quietLog {
	return &quietLog{now: now, period: period, keys: make(map[string]*quietKey)}
}

// admit reports whether a record for key is written now, and how many
// were held back since the last one that was.
func (q *quietLog) admit(key string) (bool, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	k := q.keys[key]
	if k != nil && now.Sub(k.since) < q.period {
		k.suppressed++
		return false, 0
	}
	if k == nil {
		if len(q.keys) >= maxQuietKeys {
			clear(q.keys)
		}
		k = &quietKey{}
		q.keys[key] = k
	}
	n := k.suppressed
	*k = quietKey{since: now}
	return true, n
}
