package directory

import (
	"context"
	"testing"
	"time"
)

func TestServiceBindCache(t *testing.T) {
	clock := newFakeClock()
	d, _ := newTestDirectory(t, WithClock(clock.Now))
	verifies := countVerify(d)
	bind := func(pw string) ResultCode {
		_, err := d.Bind(context.Background(), archiveDN, pw, nil)
		return resultCode(err)
	}
	steps := []struct {
		name    string
		pw      string
		advance time.Duration
		code    ResultCode
		verify  int32
	}{
		{"first bind verifies", archivePW, 0, ResultSuccess, 1},
		{"second is cached", archivePW, time.Minute, ResultSuccess, 0},
		{"wrong password is not", "wrong", 0, ResultInvalidCredentials, 1},
		{"wrong password is never cached", "wrong", 0, ResultInvalidCredentials, 1},
		{"expired after the TTL", archivePW, serviceBindCacheTTL, ResultSuccess, 1},
		{"cached again", archivePW, 0, ResultSuccess, 0},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		v0 := verifies.Load()
		if code := bind(s.pw); code != s.code {
			t.Errorf("%s: %v, want %v", s.name, code, s.code)
		}
		if got := verifies.Load() - v0; got != s.verify {
			t.Errorf("%s: %d hash comparisons, want %d", s.name, got, s.verify)
		}
	}
}

func TestVerifiedCacheKeys(t *testing.T) {
	c := newVerifiedCache(time.Now)
	c.add("hash", "pw")
	for _, k := range []struct{ hash, pw string }{{"hash", "pw2"}, {"hash2", "pw"}, {"hashp", "w"}, {"", "hashpw"}} {
		if c.verified(k.hash, k.pw) {
			t.Errorf("verified(%q, %q) after add(hash, pw)", k.hash, k.pw)
		}
	}
	if !c.verified("hash", "pw") {
		t.Error("not verified after add")
	}
}

// BenchmarkVerifiedCache: a cache hit, as every repeated service account
// bind (no allocation: the HMAC states are reused).
func BenchmarkVerifiedCache(b *testing.B) {
	c := newVerifiedCache(time.Now)
	c.add("$argon2id$v=19$m=65536,t=3,p=4$salt$key", "secret")
	b.ReportAllocs()
	for b.Loop() {
		if !c.verified("$argon2id$v=19$m=65536,t=3,p=4$salt$key", "secret") {
			b.Fatal("not verified")
		}
	}
}
