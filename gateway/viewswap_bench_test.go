package gateway

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkCommitToViewSwap measures, on a PostgreSQL store, the time from
// a commit by another process (the CLI granting or revoking a privilege,
// one per iteration) to the swap of a running instance's view that serves
// it: the notice, the load of the state and the build of the view. It
// reports the median and the 99th percentile; -benchtime 200x gives 200
// samples.
func BenchmarkCommitToViewSwap(b *testing.B) {
	cfg, _ := postgresConfig(b)
	g := runGateway(b, cfg, testLog(), func(g *Gateway) { g.storePoll = time.Hour }) // notices alone
	cli, err := OpenStore(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	alice, ok := g.View().UserByMail("alice@example.com")
	if !ok {
		b.Fatal("alice is not in the view")
	}
	lags := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		grant := i%2 == 0
		before := g.View()
		if grant {
			err = cli.GrantAdmin(b.Context(), alice.ID, "export")
		} else {
			err = cli.RevokeAdmin(b.Context(), alice.ID, "export")
		}
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		// Polled finely: waitFor's 5 ms steps would be the measurement.
		for {
			if v := g.View(); v != before {
				if u, _ := v.UserByMail("alice@example.com"); slices.Contains(u.Privileges, "export") == grant {
					break
				}
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("commit %d not served within 10s", i)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	ms := func(q float64) float64 { return float64(lags[int(q*float64(len(lags)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
