package directory

import (
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/internal/keyedhash"
)

// verifiedCache remembers successful service account password checks for
// a short while, so a client that connects, binds and unbinds for every
// search (many do) pays the argon2id or bcrypt cost once per TTL instead of
// once per connection. Keys are keyed hashes (internal/keyedhash) of the
// stored hash and the password: the password is never kept, and a changed
// hash (config reload) misses. Failures are never cached.
type verifiedCache struct {
	keys *keyedhash.Hasher
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	m    map[keyedhash.Sum]time.Time // expiry
}

// serviceBindCacheTTL is how long a verified service account password is
// remembered; serviceBindCacheMax bounds the entries (the cache empties
// when full: there are a handful of service accounts).
const (
	serviceBindCacheTTL = 2 * time.Minute
	serviceBindCacheMax = 1024
)

func newVerifiedCache(now func() time.Time) *verifiedCache {
	return &verifiedCache{keys: keyedhash.New(), ttl: serviceBindCacheTTL, now: now, m: make(map[keyedhash.Sum]time.Time)}
}

// verified reports whether hash and password were verified within the TTL.
func (c *verifiedCache) verified(hash, password string) bool {
	k := c.keys.Sum(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	if ok && c.now().Before(exp) {
		return true
	}
	if ok {
		delete(c.m, k)
	}
	return false
}

// add records a successful verification.
func (c *verifiedCache) add(hash, password string) {
	k := c.keys.Sum(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= serviceBindCacheMax {
		clear(c.m)
	}
	c.m[k] = c.now().Add(c.ttl)
}
