package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// bindCase is one kind of bind for -mode timing: a label, a name and a
// password (-case 'label|name|password').
type bindCase struct{ label, name, password string }

func parseCase(s string) (bindCase, error) {
	f := strings.SplitN(s, "|", 3)
	if len(f) != 3 || f[0] == "" || f[1] == "" {
		return bindCase{}, fmt.Errorf("-case %q: want label|name|password", s)
	}
	return bindCase{f[0], f[1], f[2]}, nil
}

// caseResult is what the binds of one case took, and their answers.
type caseResult struct {
	lat   []time.Duration
	codes map[string]int
}

// timing runs o.per binds of each case, interleaved (round robin, so that
// the machine's noise falls on every case alike), each on a new
// connection, o.conns at a time; it stops early when ctx's deadline passes
// (a result) or ctx is cancelled (an error).
func timing(ctx context.Context, o *options) (map[string]*caseResult, error) {
	if len(o.cases) == 0 {
		return nil, errors.New("-mode timing needs at least one -case")
	}
	res := make(map[string]*caseResult, len(o.cases))
	for _, c := range o.cases {
		res[c.label] = &caseResult{codes: make(map[string]int)}
	}
	jobs := make(chan bindCase)
	go func() {
		defer close(jobs)
		for range o.per {
			for _, c := range o.cases {
				select {
				case jobs <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range max(o.conns, 1) {
		wg.Go(func() {
			for c := range jobs {
				start := time.Now()
				code, err := bindOnce(o.url, c)
				took := time.Since(start)
				mu.Lock()
				r := res[c.label]
				if err != nil {
					r.codes["error: "+err.Error()]++
				} else {
					r.codes[code]++
					r.lat = append(r.lat, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	return res, nil
}

// bindOnce binds as c on a new connection and returns the result code's
// name; err is for a connection that failed.
func bindOnce(url string, c bindCase) (string, error) {
	conn, err := ldap.DialURL(url)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	err = conn.Bind(c.name, c.password)
	var le *ldap.Error
	switch {
	case err == nil:
		return "success", nil
	case errors.As(err, &le):
		return ldap.LDAPResultCodeMap[le.ResultCode], nil
	}
	return "", err
}

// printTiming writes one line per case, in the order given: count, answers,
// p50, p90, p99 and max.
func printTiming(w io.Writer, o *options, res map[string]*caseResult) {
	for _, c := range o.cases {
		r := res[c.label]
		slices.Sort(r.lat)
		pct := func(p float64) time.Duration {
			if len(r.lat) == 0 {
				return 0
			}
			return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
		}
		codes := make([]string, 0, len(r.codes))
		for k, n := range r.codes {
			codes = append(codes, fmt.Sprintf("%s:%d", strings.ReplaceAll(k, " ", "_"), n))
		}
		slices.Sort(codes)
		var top time.Duration
		if len(r.lat) > 0 {
			top = r.lat[len(r.lat)-1]
		}
		fmt.Fprintf(w, "case=%s n=%d answers=%s p50=%s p90=%s p99=%s max=%s\n", c.label, len(r.lat), strings.Join(codes, ","),
			pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
			top.Round(10*time.Microsecond))
	}
}
