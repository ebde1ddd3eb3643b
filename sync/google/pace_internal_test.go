package google

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
)

// fakeClock is a clock that sleeping moves forward; one goroutine at a time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.advance(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestPacer(perMinute int) (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)}
	return newPacer(perMinute, time.Second, c.now, c.sleep), c
}

func mustWait(t *testing.T, p *pacer) time.Time {
	t.Helper()
	at, err := p.wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// Calls are spaced evenly at the configured rate, from the first one on
// (no burst).
func TestPacerSpacesCalls(t *testing.T) {
	p, c := newTestPacer(600) // 10 a second
	start := c.now()
	var last time.Time
	for i := range 50 {
		at := mustWait(t, p)
		if i > 0 && at.Sub(last) < 100*time.Millisecond-time.Microsecond {
			t.Fatalf("call %d came %v after the one before, want at least 100ms", i, at.Sub(last))
		}
		last = at
	}
	if got := last.Sub(start); got < 4900*time.Millisecond || got > 5*time.Second {
		t.Errorf("50 calls at 10/s spanned %v, want 4.9s", got)
	}
}

// A rate-limit answer halves the rate once for the calls already under way,
// pauses every call for Retry-After (or the base wait), halves again for a
// call made at the new rate, never goes below the floor, and recovers by a
// tenth of the maximum every recoverStep.
func TestPacerAIMD(t *testing.T) {
	p, c := newTestPacer(600)
	a := mustWait(t, p)
	b := mustWait(t, p)
	c.advance(50 * time.Millisecond)

	p.congested(a, 0)
	if got := p.Rate(); got != 300 {
		t.Fatalf("rate after a rate-limit answer = %v/min, want 300", got)
	}
	cut := c.now()
	p.congested(b, 0) // issued before the cut: no second cut
	if got := p.Rate(); got != 300 {
		t.Errorf("rate after a second answer to an older call = %v/min, want still 300", got)
	}
	next := mustWait(t, p)
	if next.Sub(cut) < time.Second {
		t.Errorf("the next call started %v after the answer, want the shared pause of 1s", next.Sub(cut))
	}
	p.congested(next, 0) // made at the lower rate: cut again
	if got := p.Rate(); got != 150 {
		t.Errorf("rate after an answer to a newer call = %v/min, want 150", got)
	}

	c.advance(time.Second + recoverStep) // the pause, then one step
	if got := p.Rate(); got < 209.99 || got > 210.01 {
		t.Errorf("rate one step after the pause = %v/min, want 210 (150 + a tenth of 600)", got)
	}
	c.advance(time.Minute)
	if got := p.Rate(); got != 600 {
		t.Errorf("rate a minute later = %v/min, want back at 600", got)
	}

	for range 30 {
		p.congested(mustWait(t, p), 0)
	}
	if got := p.Rate(); got != minRate*60 {
		t.Errorf("rate after many answers = %v/min, want the floor %v", got, minRate*60)
	}
}

// Retry-After holds back every call, not only the one that got it, and the
// calls that waited for it start at the pace, not all at once.
func TestPacerRetryAfter(t *testing.T) {
	p, c := newTestPacer(600)
	a := mustWait(t, p)
	p.congested(a, 7*time.Second)
	answered := c.now()
	// Waiters that all arrive during the pause: their sleeps do not move
	// the clock.
	p.sleep = func(context.Context, time.Duration) error { return nil }
	var last time.Time
	for i := range 4 {
		at := mustWait(t, p)
		if at.Sub(answered) < 7*time.Second {
			t.Errorf("call %d started %v after a Retry-After of 7s", i, at.Sub(answered))
		}
		if i > 0 && at.Sub(last) < 200*time.Millisecond-time.Microsecond {
			t.Errorf("call %d started %v after the one before, want the halved pace (200ms)", i, at.Sub(last))
		}
		last = at
	}
}

func TestRateLimited(t *testing.T) {
	withReason := func(code int, reason string) error {
		return &googleapi.Error{Code: code, Errors: []googleapi.ErrorItem{{Reason: reason}}, Header: http.Header{"Retry-After": {"3"}}}
	}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{withReason(403, "userRateLimitExceeded"), true},
		{withReason(403, "rateLimitExceeded"), true},
		{withReason(403, "quotaExceeded"), true},
		{withReason(429, ""), true},
		{withReason(403, "forbidden"), false},
		{withReason(403, "insufficientPermissions"), false},
		{withReason(500, "backendError"), false},
	} {
		got, after := rateLimited(tt.err)
		if got != tt.want || (got && after != 3*time.Second) {
			t.Errorf("rateLimited(%v) = %v, %v; want %v", tt.err, got, after, tt.want)
		}
	}
}
