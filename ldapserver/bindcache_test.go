package ldapserver

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
