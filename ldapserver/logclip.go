package ldapserver

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// maxLoggedBytes bounds a piece of client data (a DN, a filter, a name) in
// the log: a client may send a megabyte-long DN, and logging it in full for
// every request floods the disk.
const maxLoggedBytes = 256

// clipLogged returns s cut to maxLoggedBytes (on a character boundary) and
// marked with its full length, or s when it is short enough. Use it for
// every client-supplied string the server logs.
func clipLogged(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	cut := maxLoggedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// clippedString is slog.String for client-supplied values (see clipLogged).
func clippedString(key, value string) slog.Attr {
	return slog.String(key, clipLogged(value))
}

// sampleWindow is how often a sampled log message (see logSampler) is
// written at most.
const sampleWindow = 10 * time.Second

// logSampler writes a message that clients can cause at will (refused
// connections, oversized messages) at most once per sampleWindow, with the
// count of those left out since the last one written.
type logSampler struct {
	mu   sync.Mutex
	msgs map[string]*sampled // by message; the messages are constants
}

type sampled struct {
	next    time.Time
	skipped int
}

// log writes msg with attrs unless it was written less than sampleWindow
// before now.
func (l *logSampler) log(log *slog.Logger, now time.Time, level slog.Level, msg string, attrs ...slog.Attr) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	if l.msgs == nil {
		l.msgs = make(map[string]*sampled)
	}
	s := l.msgs[msg]
	if s == nil {
		s = &sampled{}
		l.msgs[msg] = s
	}
	if now.Before(s.next) {
		s.skipped++
		l.mu.Unlock()
		return
	}
	skipped := s.skipped
	s.next, s.skipped = now.Add(sampleWindow), 0
	l.mu.Unlock()
	if skipped > 0 {
		attrs = append(attrs, slog.Int("similar_not_logged", skipped))
	}
	log.LogAttrs(context.Background(), level, msg, attrs...)
}
