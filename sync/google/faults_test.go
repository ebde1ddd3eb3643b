package google_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// Faults that go away are retried (with the right waits) and the sync
// succeeds; faults that stay fail the whole sync, which changes nothing
// in the store and records the failing call and why.
func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault googletest.Fault
		// ok: the sync succeeds after retries; else it fails with an error
		// containing wantErr.
		ok         bool
		wantErr    string
		wantSleeps []time.Duration // exact waits, when they are fixed
		minSleep   time.Duration   // at least this wait (Retry-After)
	}{
		{name: "429 with Retry-After", fault: googletest.Fault{Call: "users.list", Page: 2, Times: 1, Status: 429, Reason: "rateLimitExceeded", RetryAfter: "7"}, ok: true, minSleep: 7 * time.Second},
		{name: "500 twice", fault: googletest.Fault{Call: "members.list", Times: 2, Status: 500}, ok: true},
		{name: "503 on groups", fault: googletest.Fault{Call: "groups.list", Times: 1, Status: 503}, ok: true},
		{name: "403 rateLimitExceeded", fault: googletest.Fault{Call: "users.list", Times: 1, Status: 403, Reason: "rateLimitExceeded", Message: "Rate Limit Exceeded"}, ok: true},
		{name: "403 userRateLimitExceeded", fault: googletest.Fault{Call: "members.list", Times: 3, Status: 403, Reason: "userRateLimitExceeded", Message: "User Rate Limit Exceeded"}, ok: true},
		{name: "403 quotaExceeded", fault: googletest.Fault{Call: "groups.list", Times: 1, Status: 403, Reason: "quotaExceeded", Message: "Quota exceeded"}, ok: true},
		{name: "token endpoint 503", fault: googletest.Fault{Call: "token", Times: 1, Status: 503}, ok: true},
		{name: "page token expires once", fault: googletest.Fault{Call: "users.list", Page: 3, Times: 1, ExpirePageToken: true}, ok: true},
		{name: "slow response", fault: googletest.Fault{Call: "members.list", Times: 1, Delay: 5 * time.Second}, ok: true},
		{name: "error on the last page once", fault: googletest.Fault{Call: "users.list", Page: googletest.LastPage, Times: 1, Status: 500}, ok: true},

		{name: "error on the last page always", fault: googletest.Fault{Call: "users.list", Page: googletest.LastPage, Status: 500},
			wantErr: "users.list (customer my_customer) page 3 failed after 4 attempts: googleapi: Error 500"},
		{name: "members 500 always", fault: googletest.Fault{Call: "members.list", Page: 2, Status: 500},
			wantErr: "members.list (group big@example.com) page 2 failed after 4 attempts"},
		{name: "429 always", fault: googletest.Fault{Call: "groups.list", Status: 429, RetryAfter: "1"},
			wantErr: "groups.list (customer my_customer) page 1 failed after 4 attempts: googleapi: Error 429"},
		{name: "quota used up", fault: googletest.Fault{Call: "members.list", Status: 403, Reason: "userRateLimitExceeded", Message: "Quota exceeded"},
			wantErr: "failed after 4 attempts: googleapi: Error 403: Quota exceeded, userRateLimitExceeded: the Directory API's quota"},
		{name: "Retry-After past the deadline", fault: googletest.Fault{Call: "users.list", Status: 429, RetryAfter: "3600"},
			wantErr: "would pass the sync's deadline"},
		{name: "page token expires always", fault: googletest.Fault{Call: "users.list", Page: 2, ExpirePageToken: true},
			wantErr: "users.list (customer my_customer) page 2 failed: googleapi: Error 400: Invalid pageToken"},
		{name: "slow always", fault: googletest.Fault{Call: "groups.list", Delay: 5 * time.Second},
			wantErr: "groups.list (customer my_customer) page 1 failed after 4 attempts"},
		{name: "403 forbidden is not retried", fault: googletest.Fault{Call: "members.list", Status: 403, Reason: "forbidden", Message: "Not Authorized to access this resource/api"},
			wantErr: "failed: googleapi: Error 403: Not Authorized to access this resource/api, forbidden: alice@example.com is not an administrator"},
		{name: "token endpoint down", fault: googletest.Fault{Call: "token", Status: 500},
			wantErr: "access token for ldapgate@ldapgate-test.iam.gserviceaccount.com acting as alice@example.com failed after 4 attempts: token endpoint answered 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.cfg.MaxAttempts = 4
			f.cfg.RequestTimeout = 300 * time.Millisecond
			db := openStore(t)
			src := f.source()
			mustSync(t, src, db, syncOptions)
			before := loadState(t, db)

			// Changes a successful sync would apply.
			f.srv.PutUser(&admin.User{Id: "u9", PrimaryEmail: "new@example.com", OrgUnitPath: "/"})
			f.srv.DeleteUser("x0005")
			fault := f.srv.Inject(tt.fault)
			res, err := runSync(t, src, db, syncOptions)
			if fault.Hits(f.srv) == 0 {
				t.Fatal("the fault never hit")
			}
			after := loadState(t, db)
			runs, rerr := db.SyncRuns(context.Background(), 1)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("sync failed: %v", err)
				}
				if findUser(after, "new@example.com") == nil || findUser(after, "user0005@example.com") != nil {
					t.Error("the sync did not apply the changes")
				}
				if tt.minSleep > 0 {
					s := f.sleeps.all()
					if len(s) == 0 || s[0] < tt.minSleep {
						t.Errorf("waited %v before retrying, want at least %v", s, tt.minSleep)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("sync succeeded, want an error containing %q", tt.wantErr)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.wantErr)
			}
			var ce *google.CallError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *google.CallError", err)
			}
			if res != nil && res.Applied {
				t.Error("result says applied")
			}
			if diff := cmp.Diff(after, before); diff != "" {
				t.Errorf("the failed sync changed the store (-after +before):\n%s", diff)
			}
			if len(runs) != 1 || runs[0].Error == "" || !strings.Contains(runs[0].Error, tt.wantErr) {
				t.Errorf("last run record = %+v, want an error containing %q", runs, tt.wantErr)
			}
		})
	}
}

// The backoff grows exponentially with jitter between half and all of
// each step, and the attempts are bounded.
func TestBackoff(t *testing.T) {
	f := newFixture(t)
	f.cfg.MaxAttempts = 6
	f.cfg.BackoffBase = time.Second
	f.cfg.BackoffMax = 8 * time.Second
	f.srv.Inject(googletest.Fault{Call: "groups.list", Status: 503})
	_, err := f.source().Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "failed after 6 attempts") {
		t.Fatalf("err = %v", err)
	}
	sleeps := f.sleeps.all()
	steps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	if len(sleeps) != len(steps) {
		t.Fatalf("slept %v, want %d waits", sleeps, len(steps))
	}
	for i, d := range sleeps {
		if d < steps[i]/2 || d > steps[i] {
			t.Errorf("wait %d = %v, want between %v and %v", i+1, d, steps[i]/2, steps[i])
		}
	}
}

// A cancelled fetch stops quickly and says so.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	f.srv.Inject(googletest.Fault{Call: "members.list", Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := f.source().Fetch(ctx)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}
