package google_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// BenchmarkIncremental100k measures an incremental sync of one suspension
// in the organisation (100,000 users, 5,000 groups, 300,000
// memberships), with Google's calls at 20 ms: the calls, the poll, the run
// (store state, filter, plan, apply) and the view a gateway then builds
// (without its LDAP trees).
//
//	go test ./sync/google -run '^$' -bench Incremental100k -benchtime 1x -timeout 20m
func BenchmarkIncremental100k(b *testing.B) {
	srv := googletest.New(b)
	sa := googletest.NewServiceAccount(b, "ldapgate@bench.iam.gserviceaccount.com")
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin("user000000@example.com", true)
	benchOrg(srv)
	clk := newClock()
	srv.SetNow(clk.Now)
	src := google.New(google.Config{
		KeyFile: googletest.WriteFile(b, "key.json", sa.JSONKey(b, srv.TokenURL)), AdminEmail: "user000000@example.com",
		APIEndpoint: srv.APIEndpoint, Changes: true, Now: clk.Now, MaxCallsPerMinute: -1,
	})
	opts := engine.Options{DeleteUsers: true, MaxDeletePercent: 10, PrimaryDomain: "example.com"}
	db := openStore(b)
	ctx := context.Background()
	eng := engine.New(src, db, opts, nil)
	if _, err := eng.Run(ctx, engine.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	src.SyncApplied()
	srv.SetLatency(benchLatency)
	clk.Add(time.Minute)
	if ch, err := src.Changes(ctx); err != nil || ch != nil { // the token, and nothing new
		b.Fatalf("first poll: %v, %v", ch, err)
	}

	i := 0
	for b.Loop() {
		i++
		clk.Add(time.Minute)
		srv.ResetCounts()
		if ch, err := src.Changes(ctx); err != nil || ch != nil {
			b.Fatalf("poll without changes: %v, %v", ch, err)
		}
		idle := srv.APICalls()

		u := srv.User(fmt.Sprintf("1%08d", i))
		u.Suspended = true
		srv.PutUser(u)
		clk.Add(time.Second)
		srv.ResetCounts()
		start := time.Now()
		ch, err := src.Changes(ctx)
		if err != nil || ch == nil {
			b.Fatalf("poll: %v, %v", ch, err)
		}
		polled := time.Since(start)
		var deleted int
		for _, step := range ch.Steps {
			res, err := eng.RunDelta(ctx, step, engine.RunOptions{})
			if err != nil {
				b.Fatal(err)
			}
			deleted += res.Counts.UsersDeleted
		}
		ch.Done()
		applied := time.Since(start)
		st, err := db.LoadState(ctx)
		if err != nil {
			b.Fatal(err)
		}
		store.NewView(st, nil, time.Now())
		viewed := time.Since(start)
		if deleted != 1 {
			b.Fatalf("deleted %d users, want the suspended one", deleted)
		}
		b.ReportMetric(float64(idle), "idle-poll-calls")
		b.ReportMetric(float64(srv.APICalls()), "change-calls")
		b.ReportMetric(polled.Seconds(), "poll-s")
		b.ReportMetric(applied.Seconds(), "applied-s")
		b.ReportMetric(viewed.Seconds(), "with-view-s")
	}
}
