package keyedhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestSum(t *testing.T) {
	h := New()
	a := h.Sum("user", "secret")
	if a != h.Sum("user", "secret") {
		t.Error("the same input gave two keys")
	}
	for _, other := range [][2]string{{"user", "secreT"}, {"user2", "secret"}, {"users", "ecret"}, {"user\x00s", "ecret"}} {
		if h.Sum(other[0], other[1]) == a {
			t.Errorf("%q collides with (user, secret)", other)
		}
	}
	if New().Sum("user", "secret") == a {
		t.Error("two hashers share a key")
	}
	// Without the key, the plain HMAC under any guessable key differs.
	m := hmac.New(sha256.New, make([]byte, 32))
	m.Write([]byte("user\x00secret"))
	if Sum(m.Sum(nil)) == a {
		t.Error("the key is all zeros")
	}
}

// BenchmarkSum: one cache key, as a cached bind makes (no allocation).
func BenchmarkSum(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for b.Loop() {
		h.Sum("$argon2id$v=19$m=65536,t=3,p=4$salt$key", "secret")
	}
}
