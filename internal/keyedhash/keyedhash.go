// Package keyedhash makes cache keys from secrets: HMAC-SHA256 under a
// random key drawn when the Hasher is made, so that a cache of verified
// binds holds neither the passwords nor anything that can be checked
// against them outside the process.
package keyedhash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
)

// Sum is a key.
type Sum = [sha256.Size]byte

// Hasher sums pairs of strings under its key. Its HMAC states are reused:
// a new one hashes the key and allocates, which a bind path should not do
// every time.
type Hasher struct{ states sync.Pool }

type state struct {
	h        hash.Hash
	buf, out []byte
}

// New returns a Hasher with a fresh random key.
func New() *Hasher {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand never fails since Go 1.24
	h := &Hasher{}
	h.states.New = func() any { return &state{h: hmac.New(sha256.New, key)} }
	return h
}

// Sum returns the HMAC of a, a zero byte and b. The copy of the input it
// works on is cleared before it returns (b is usually a password).
func (h *Hasher) Sum(a, b string) Sum {
	s := h.states.Get().(*state)
	s.buf = append(append(append(s.buf[:0], a...), 0), b...)
	s.h.Write(s.buf)
	s.out = s.h.Sum(s.out[:0])
	k := Sum(s.out)
	s.h.Reset()
	clear(s.buf)
	h.states.Put(s)
	return k
}
