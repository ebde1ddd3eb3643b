// Package clientlog is what the LDAP side logs about clients: their text
// cut to a bounded length, repeated records held back, and the connection
// a record belongs to.
package clientlog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// maxLoggedBytes bounds what a log record copies of text a client sent
// (DNs, names): one request cannot make a record large.
const maxLoggedBytes = 256

// Text returns s, a client's text for the log, cut to
// maxLoggedBytes (at a character boundary) and marked with its length.
func Text(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	cut := s[:maxLoggedBytes]
	for i := 0; i < utf8.UTFMax && !utf8.ValidString(cut); i++ {
		cut = cut[:len(cut)-1]
	}
	return cut + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// Quiet lets the first of a kind of record through per key and period
// and counts the others, so that a client repeating a refused request
// writes a line a minute, not one a request.
type Quiet struct {
	mu     sync.Mutex
	now    func() time.Time
	period time.Duration
	keys   map[string]*quietKey
}

type quietKey struct {
	since      time.Time
	suppressed int
}

// maxQuietKeys bounds the memory of a Quiet; beyond it, it starts over.
const maxQuietKeys = 4096

// NewQuiet returns a Quiet that admits one record per key and period.
func NewQuiet(now func() time.Time, period time.Duration) *Quiet {
	return &Quiet{now: now, period: period, keys: make(map[string]*quietKey)}
}

// Admit reports whether a record for key is written now, and how many
// were held back since the last one that was.
func (q *Quiet) Admit(key string) (bool, int) {
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

type connKey struct{}

// WithConn tags ctx with a connection id for the log.
func WithConn(ctx context.Context, id int) context.Context {
	return context.WithValue(ctx, connKey{}, id)
}

// ConnAttr returns the connection id WithConn put in ctx, as a log
// attribute (empty without one).
func ConnAttr(ctx context.Context) slog.Attr {
	if id, ok := ctx.Value(connKey{}).(int); ok {
		return slog.Int("conn", id)
	}
	return slog.Attr{}
}
