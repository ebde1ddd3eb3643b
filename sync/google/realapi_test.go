package google_test

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// Google's routing aliases (*.test-google-a.com, *.goog) are no one's
// address: left out of users' and groups' aliases unless kept on purpose.
func TestRoutingAliases(t *testing.T) {
	f := newFixture(t)
	g := &admin.Group{Id: "g7", Email: "sales@example.com", Aliases: []string{"vertrieb@example.com"},
		NonEditableAliases: []string{"sales@example.com.test-google-a.com", "sales@example.goog", "verkauf@example.com"}}
	f.srv.PutGroup(g)
	bob := f.srv.User("u2")
	bob.NonEditableAliases = []string{"bob@example.goog", "robert@example.com"}
	f.srv.PutUser(bob)

	aliases := func(keep bool) (alice, bob, sales []string) {
		t.Helper()
		f.cfg.KeepRoutingAliases = keep
		snap, err := f.source().Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range snap.Users {
			switch u.ID {
			case "u1":
				alice = u.Aliases
			case "u2":
				bob = u.Aliases
			}
		}
		for _, g := range snap.Groups {
			if g.ID == "g7" {
				sales = g.Aliases
			}
		}
		return alice, bob, sales
	}
	alice, bobs, sales := aliases(false)
	for _, c := range []struct {
		who       string
		got, want []string
	}{
		{"alice", alice, []string{"al@example.com"}},
		{"bob", bobs, []string{"robert@example.com"}},
		{"sales", sales, []string{"verkauf@example.com", "vertrieb@example.com"}},
	} {
		slices.Sort(c.got)
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s's aliases = %v, want %v", c.who, c.got, c.want)
		}
	}
	alice, bobs, sales = aliases(true)
	if !slices.Contains(alice, "alice@example.com.test-google-a.com") || !slices.Contains(bobs, "bob@example.goog") ||
		!slices.Contains(sales, "sales@example.goog") || !slices.Contains(sales, "sales@example.com.test-google-a.com") {
		t.Errorf("with KeepRoutingAliases: alice %v, bob %v, sales %v; want the routing aliases kept", alice, bobs, sales)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Test settings answers at once when Google cannot be reached (no retries,
// so no waits); the scheduled sync retries the same failure.
func TestDiagnoseUnreachableFailsFast(t *testing.T) {
	for _, tt := range []struct {
		name   string
		set    func(f *fixture, addr string)
		failed string
	}{
		{"token endpoint", func(f *fixture, addr string) { f.cfg.TokenURL = "http://" + addr + "/token" }, "access token"},
		{"directory api", func(f *fixture, addr string) { f.cfg.APIEndpoint = "http://" + addr + "/" }, "read users"},
		{"proxy", func(f *fixture, addr string) { f.cfg.Proxy = &url.URL{Scheme: "http", Host: addr} }, "access token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.MaxAttempts = 5
			tt.set(f, closedAddr(t))
			d := f.source().Diagnose(context.Background())
			failed := d.Failed()
			if failed == nil || failed.Name != tt.failed || !strings.Contains(failed.Detail, "connection refused") {
				t.Fatalf("failed check = %+v, want %q with connection refused", failed, tt.failed)
			}
			if !strings.Contains(failed.Fix, "cannot reach Google") {
				t.Errorf("fix = %q, want it to say Google cannot be reached", failed.Fix)
			}
			if s := f.sleeps.all(); len(s) != 0 {
				t.Errorf("Diagnose waited %v to retry, want no retry", s)
			}

			_, err := f.source().Fetch(context.Background())
			if err == nil || !strings.Contains(err.Error(), "failed after 5 attempts") {
				t.Errorf("Fetch err = %v, want it retried 5 times", err)
			}
		})
	}
}

// The listing restarts on Google's reason for a stale page token, whatever
// the message says, and not on another 400 that mentions the page token.
func TestPageTokenRestartByReason(t *testing.T) {
	f := newFixture(t)
	f.srv.Inject(googletest.Fault{Call: "users.list", Page: 2, Times: 1, Status: 400, Reason: "invalidPageToken", Message: "Ungültiges Seitentoken"})
	if _, err := f.source().Fetch(context.Background()); err != nil {
		t.Fatalf("stale page token not restarted: %v", err)
	}
	if n := f.srv.Calls()["users.list"]; n != 2+3 {
		t.Errorf("users.list calls = %d, want 5 (pages 1 and 2, then all 3 from the first)", n)
	}

	f = newFixture(t)
	f.srv.Inject(googletest.Fault{Call: "users.list", Page: 2, Times: 1, Status: 400, Reason: "invalid", Message: "Invalid pageToken size"})
	_, err := f.source().Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "users.list (customer my_customer) page 2 failed: googleapi: Error 400") {
		t.Errorf("err = %v, want the 400 without a restart", err)
	}
}

// Against a quota like Google's, the paced sync gets no 403 when it has
// the quota to itself, and when something else uses 90% of it, it slows
// down on the 403s and completes; every refusal is counted.
func TestQuota(t *testing.T) {
	for _, tt := range []struct {
		name    string
		quota   googletest.Quota
		refused bool
	}{
		// 3,000 a minute in buckets of 5; the source keeps to 2,400.
		{"quota to itself", googletest.Quota{Calls: 5, Per: 100 * time.Millisecond}, false},
		// 3,000 a minute, 90% used by others: 300 left; the source aims at 2,400.
		{"others use 90%", googletest.Quota{Calls: 50, Per: time.Second, Others: 0.9}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.MaxCallsPerMinute = 2400
			// At most 4 calls at once (users, groups, 2 member lists): fewer
			// than the bucket holds, so a stalled machine cannot burst past it.
			f.cfg.Concurrency = 2
			f.cfg.Sleep = nil // real waits: the fake's quota runs on the real clock
			f.cfg.BackoffBase, f.cfg.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
			f.srv.SetQuota(tt.quota)
			src := f.source()
			if _, err := src.Fetch(context.Background()); err != nil {
				t.Fatal(err)
			}
			refused := f.srv.QuotaRefused()
			if !tt.refused && refused != 0 {
				t.Errorf("the quota refused %d calls, want none", refused)
			}
			if tt.refused && refused == 0 {
				t.Fatal("the quota refused nothing: the test does not test the slow-down")
			}
			if got := src.RateLimited(); got != int64(refused) {
				t.Errorf("RateLimited() = %d, the fake refused %d", got, refused)
			}
			if got := src.Retries(); got != int64(refused) {
				t.Errorf("Retries() = %d, want %d (one per refusal)", got, refused)
			}
			if tt.refused && src.Rate() >= 2400 {
				t.Errorf("Rate() = %v/min after %d refusals, want it lowered", src.Rate(), refused)
			}
		})
	}
}
