package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

// CallError is a Google call that failed for good: it was not retryable, or
// the retries ran out. Its message names the call, the attempts and the
// cause, and adds a hint for the common mistakes; it never holds secrets.
type CallError struct {
	// Call names the call, e.g. "users.list (customer my_customer) page 3".
	Call     string
	Attempts int
	// GaveUp says why retrying stopped early ("" if the error was not
	// retryable or attempts ran out).
	GaveUp string
	// Hint explains a well-known cause and what to do ("" if none).
	Hint string
	Err  error
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString(e.Call)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " failed after %d attempts", e.Attempts)
	} else {
		b.WriteString(" failed")
	}
	if e.GaveUp != "" {
		fmt.Fprintf(&b, " (%s)", e.GaveUp)
	}
	fmt.Fprintf(&b, ": %s", oneLine(e.Err))
	if e.Hint != "" {
		fmt.Fprintf(&b, ": %s", e.Hint)
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// oneLine is err's message on one line, without the response bodies the
// oauth2 package appends.
func oneLine(err error) string {
	if re, code, desc := tokenFailure(err); re != nil {
		s := "token endpoint"
		if re.Response != nil {
			s += " answered " + re.Response.Status
		}
		if code != "" {
			s += ": " + code
			if desc != "" {
				s += " (" + desc + ")"
			}
		}
		return s
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// tokenFailure returns the token endpoint's error response and its RFC 6749
// error code and description (which the jwt package does not parse).
func tokenFailure(err error) (re *oauth2.RetrieveError, code, desc string) {
	if !errors.As(err, &re) {
		return nil, "", ""
	}
	code, desc = re.ErrorCode, re.ErrorDescription
	if code == "" {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code, desc = body.Error, body.Description
		}
	}
	return re, code, desc
}

// tokenUnreachable reports whether err is the jwt package's failure to
// reach the token endpoint (it formats, not wraps, the cause).
func tokenUnreachable(err error) bool {
	var re *oauth2.RetrieveError
	return !errors.As(err, &re) && strings.Contains(err.Error(), "cannot fetch token")
}

// unreachable reports whether err is a failure to reach Google (or the
// proxy) at all: a name that does not resolve, a connection refused or not
// made in time.
func unreachable(err error) bool {
	var de *net.DNSError
	var oe *net.OpError
	return tokenUnreachable(err) || errors.As(err, &de) || (errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "proxyconnect"))
}

// retrier runs calls with retries: exponential backoff with jitter,
// honouring Retry-After, bounded by the attempts and the context's deadline.
// With a pacer, every attempt waits for its turn, and a rate-limit answer
// slows down every call of the source.
type retrier struct {
	maxAttempts int
	base, max   time.Duration
	timeout     time.Duration // per attempt
	sleep       func(context.Context, time.Duration) error
	now         func() time.Time
	jitter      func() float64 // in [0, 1)
	log         *slog.Logger
	hint        func(call string, err error) string
	pace        *pacer        // nil: calls not paced (the token endpoint)
	retries     *atomic.Int64 // counts the attempts retried
	// noRetryNetwork fails at once when Google cannot be reached (DNS,
	// connection refused), for Diagnose's quick answer.
	noRetryNetwork bool
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs fn until it succeeds, fails with an error that is not
// retryable, or retrying is no longer possible. The error is a *CallError.
func (r *retrier) do(ctx context.Context, call string, fn func(ctx context.Context) error) error {
	var err error
	fail := func(attempt int, gaveUp string) error {
		ce := &CallError{Call: call, Attempts: attempt, GaveUp: gaveUp, Err: err}
		if r.hint != nil {
			ce.Hint = r.hint(call, err)
		}
		return ce
	}
	ctxGaveUp := func() string {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "the sync's time ran out (sync.timeout)"
		}
		return "cancelled"
	}
	for attempt := 1; ; attempt++ {
		var issued time.Time
		if r.pace != nil {
			if issued, err = r.pace.wait(ctx); err != nil {
				return fail(attempt-1, ctxGaveUp()+" while waiting for its turn under the rate limit")
			}
		}
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		err = fn(actx)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if timedOut && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s (source.google.request_timeout): %w", r.timeout, err)
		}
		if ctx.Err() != nil {
			return fail(attempt, ctxGaveUp())
		}
		if limited, after := rateLimited(err); limited && r.pace != nil {
			r.pace.congested(issued, after)
		}
		retry, after := retryable(err)
		if !retry || (r.noRetryNetwork && unreachable(err)) {
			return fail(attempt, "")
		}
		if attempt >= r.maxAttempts {
			return fail(attempt, "")
		}
		d := r.backoff(attempt, after)
		if dl, ok := ctx.Deadline(); ok && r.now().Add(d).After(dl) {
			return fail(attempt, fmt.Sprintf("the next retry, in %s, would pass the sync's deadline", d.Round(time.Millisecond)))
		}
		if r.retries != nil {
			r.retries.Add(1)
		}
		r.log.Warn("google call failed; retrying", "call", call, "attempt", attempt, "retry_in", d.Round(time.Millisecond).String(), "err", oneLine(err))
		if serr := r.sleep(ctx, d); serr != nil {
			return fail(attempt, "cancelled while waiting to retry")
		}
	}
}

// backoff is the wait before attempt+1: base·2^(attempt-1), capped, with
// jitter (between half and all of it), and never less than Retry-After.
func (r *retrier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := r.base << min(attempt-1, 20)
	if d > r.max || d <= 0 {
		d = r.max
	}
	d = d/2 + time.Duration(r.jitter()*float64(d/2))
	return max(d, retryAfter)
}

// rateReasons are the 403 reasons that mean "slow down", not "forbidden".
var rateReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"quotaExceeded":         true,
}

// retryable reports whether err is worth retrying, and the server's
// Retry-After, if it gave one.
func retryable(err error) (bool, time.Duration) {
	if limited, after := rateLimited(err); limited {
		return true, after
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		if ge.Code >= 500 {
			return true, retryAfter(ge.Header)
		}
		return false, 0
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && (re.Response.StatusCode == http.StatusTooManyRequests || re.Response.StatusCode >= 500) {
			return true, retryAfter(re.Response.Header)
		}
		return false, 0
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return false, 0
	}
	if tokenUnreachable(err) {
		return true, 0
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true, 0
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true, 0 // connection refused or reset, timeouts: transient
	}
	return false, 0
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// pageTokenExpired reports whether err is Google's answer to a page token
// it no longer accepts (400, reason invalidPageToken), so the listing must
// start again. The reason, not the message: messages change and are
// translated, and other 400s mention the page token too.
func pageTokenExpired(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusBadRequest {
		return false
	}
	for _, it := range ge.Errors {
		if it.Reason == "invalidPageToken" {
			return true
		}
	}
	return false
}

func defaultJitter() float64 { return rand.Float64() }
