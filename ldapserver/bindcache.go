package ldapserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	gohash "hash"
	"sync"
	"time"
)

// verifiedCache remembers successful service account password checks for
// a short while, so a client that connects, binds and unbinds for every
// search (many do) pays the argon2id or bcrypt cost once per TTL instead of
// once per connection. Keys are HMAC-SHA256 under a random per-process key
// of the stored hash and the password: the password is never kept, and
// a changed hash (config reload) misses. Failures are never cached.
type verifiedCache struct {
	key [32]byte
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[[sha256.Size]byte]time.Time // expiry
	// macs holds *keyedMAC: a new HMAC hashes the key and allocates.
	macs sync.Pool
}

type keyedMAC struct {
	h   gohash.Hash
	buf []byte
	out []byte
}

// serviceBindCacheTTL is how long a verified service account password is
// remembered; serviceBindCacheMax bounds the entries (the cache empties
// when full: there are a handful of service accounts).
const (
	serviceBindCacheTTL = 2 * time.Minute
	serviceBindCacheMax = 1024
)

func newVerifiedCache(now func() time.Time) *verifiedCache {
	c := &verifiedCache{ttl: serviceBindCacheTTL, now: now, m: make(map[[sha256.Size]byte]time.Time)}
	_, _ = rand.Read(c.key[:]) // crypto/rand does not fail
	c.macs.New = func() any { return &keyedMAC{h: hmac.New(sha256.New, c.key[:])} }
	return c
}

func (c *verifiedCache) sum(hash, password string) [sha256.Size]byte {
	m := c.macs.Get().(*keyedMAC)
	m.buf = append(append(append(m.buf[:0], hash...), 0), password...)
	m.h.Write(m.buf)
	m.out = m.h.Sum(m.out[:0])
	k := [sha256.Size]byte(m.out)
	m.h.Reset()
	clear(m.buf) // the password
	c.macs.Put(m)
	return k
}

// verified reports whether hash and password were verified within the TTL.
func (c *verifiedCache) verified(hash, password string) bool {
	k := c.sum(hash, password)
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
	k := c.sum(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= serviceBindCacheMax {
		clear(c.m)
	}
	c.m[k] = c.now().Add(c.ttl)
}
