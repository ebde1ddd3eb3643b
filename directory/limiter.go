package directory

import (
	"sync"
	"time"
)

// bindLimiter counts failed binds per key (see limitKeys). After max
// failures within window the key is blocked for backoff: binds for it are
// refused without checking the password. Time comes from now, so tests
// never sleep.
type bindLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	window  time.Duration
	backoff time.Duration
	keys    map[string]*failures
}

type failures struct {
	count        int
	first        time.Time // start of the current window
	blockedUntil time.Time
}

// maxLimiterKeys bounds the memory an attacker can make the limiter use;
// beyond it, stale keys are swept, and new keys are not tracked until
// there is room again.
const maxLimiterKeys = 100_000

func newBindLimiter(now func() time.Time, window, backoff time.Duration) *bindLimiter {
	return &bindLimiter{now: now, window: window, backoff: backoff, keys: make(map[string]*failures)}
}

// empty reports whether the limiter tracks no key: then no key is blocked
// and succeed has nothing to forget.
func (l *bindLimiter) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys) == 0
}

// blocked reports whether key is in a back-off period ("" never is).
func (l *bindLimiter) blocked(key string) bool {
	if key == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.keys[key]
	return f != nil && l.now().Before(f.blockedUntil)
}

// fail records a failed bind for key and returns the failures counted in
// its window so far (0 when the limiter is full); max is the number that
// starts a back-off (max <= 0: never).
func (l *bindLimiter) fail(key string, max int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.keys[key]
	if f == nil {
		if len(l.keys) >= maxLimiterKeys {
			l.sweep(now)
			if len(l.keys) >= maxLimiterKeys {
				return 0
			}
		}
		f = &failures{first: now}
		l.keys[key] = f
	}
	if now.Sub(f.first) > l.window || (!f.blockedUntil.IsZero() && !now.Before(f.blockedUntil)) {
		// A new window, or the back-off is over: start counting afresh.
		*f = failures{first: now}
	}
	f.count++
	if max > 0 && f.count >= max {
		f.blockedUntil = now.Add(l.backoff)
	}
	return f.count
}

// count returns the failures of key in its current window.
func (l *bindLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.keys[key]
	if f == nil || l.now().Sub(f.first) > l.window {
		return 0
	}
	return f.count
}

// succeed forgets the failures of key.
func (l *bindLimiter) succeed(key string) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// sweep drops keys whose window and back-off are over. Callers hold mu.
func (l *bindLimiter) sweep(now time.Time) {
	for k, f := range l.keys {
		if now.Sub(f.first) > l.window && !now.Before(f.blockedUntil) {
			delete(l.keys, k)
		}
	}
}
