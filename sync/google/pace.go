package google

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/api/googleapi"
)

// DefaultMaxCallsPerMinute keeps a sync under the Directory API's default
// quota of 2,400 queries per minute per user per project, with room for the
// admin's other tools and for Diagnose.
const DefaultMaxCallsPerMinute = 2000

// Pacing after a rate-limit answer: the rate halves at most once per
// congestion (calls issued before the cut do not cut it again), never below
// minRate, and from the end of the pause climbs back by a tenth of the
// maximum every recoverStep.
const (
	minRate     = 0.5 // calls per second
	recoverStep = 6 * time.Second
)

// pacer spaces all Directory API calls of a source (every worker of every
// fetch, and Diagnose) under one rate, and slows them all down together
// when Google answers that a rate limit or quota is exceeded: AIMD, as TCP
// does, plus a pause for everyone of Retry-After (or base) after such an
// answer.
type pacer struct {
	max   float64 // calls per second
	base  time.Duration
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu      sync.Mutex
	lim     *rate.Limiter
	cut     float64   // the rate set at the last cut
	cutAt   time.Time // when the last cut's pause ends; zero: never cut
	pausing time.Time // no call starts before this

	limited atomic.Int64 // rate-limit answers seen
}

// newPacer returns a pacer of perMinute calls a minute; a negative
// perMinute paces nothing (but still pauses after rate-limit answers).
func newPacer(perMinute int, base time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	max := float64(perMinute) / 60
	if perMinute < 0 {
		max = math.Inf(1)
	}
	// A burst of one: the quota is shared with tools ldapgate cannot see,
	// so even the first calls keep to the pace.
	return &pacer{max: max, base: base, now: now, sleep: sleep, lim: rate.NewLimiter(rate.Limit(max), 1)}
}

// rateAt is the allowed rate at t, in calls per second. p.mu is held.
func (p *pacer) rateAt(t time.Time) float64 {
	if p.cutAt.IsZero() || math.IsInf(p.max, 1) {
		return p.max
	}
	steps := max(0, float64(t.Sub(p.cutAt))/float64(recoverStep))
	return min(p.max, p.cut+steps*p.max/10)
}

// Rate returns the allowed rate now, in calls per minute.
func (p *pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rateAt(p.now()) * 60
}

// wait blocks until the next call may start, and returns that time (for
// congested).
func (p *pacer) wait(ctx context.Context) (time.Time, error) {
	p.mu.Lock()
	now := p.now()
	// Reserved from the end of the pause, so that the calls waiting for it
	// then start one by one at the pace, not all at once. The limiter sees
	// times that never go back.
	at := now
	if p.pausing.After(at) {
		at = p.pausing
	}
	p.lim.SetLimitAt(at, rate.Limit(p.rateAt(at)))
	res := p.lim.ReserveN(at, 1)
	d := res.DelayFrom(now)
	p.mu.Unlock()
	if d <= 0 {
		return now, nil
	}
	if err := p.sleep(ctx, d); err != nil {
		res.CancelAt(p.now())
		return time.Time{}, err
	}
	return now.Add(d), nil
}

// congested records a rate-limit answer to a call that started at issued:
// the rate halves (unless the call started before the last cut, whose
// effect it could not see yet), and every call waits retryAfter, or base if
// Google named no wait.
func (p *pacer) congested(issued time.Time, retryAfter time.Duration) {
	p.limited.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if retryAfter <= 0 {
		retryAfter = p.base
	}
	if t := now.Add(retryAfter); t.After(p.pausing) {
		p.pausing = t
	}
	if p.cutAt.IsZero() || !issued.Before(p.cutAt) {
		p.cut = max(minRate, p.rateAt(now)/2)
		// Recovery starts when the calls start again.
		p.cutAt = p.pausing
	}
}

// rateLimited reports whether err is Google saying "slow down" (429, or 403
// with a rate or quota reason), and its Retry-After.
func rateLimited(err error) (bool, time.Duration) {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false, 0
	}
	if ge.Code == http.StatusTooManyRequests {
		return true, retryAfter(ge.Header)
	}
	if ge.Code == http.StatusForbidden {
		for _, it := range ge.Errors {
			if rateReasons[it.Reason] {
				return true, retryAfter(ge.Header)
			}
		}
	}
	return false, 0
}
