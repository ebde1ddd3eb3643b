package gateway

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/sync/dirfile/dirfiletest"
)

// BenchmarkCommitToViewSwap measures, on a PostgreSQL store, the time from
// a commit by another process (the CLI granting or revoking a privilege,
// one per iteration) to the swap of a running instance's view that serves
// it: the notice, the load of the state and the build of the view. It
// does so on the demo directory (45 users) and on a generated one of
// 10,000 users, and reports the median and the 99th percentile;
// -benchtime 200x gives 200 samples each.
func BenchmarkCommitToViewSwap(b *testing.B) {
	for _, tc := range []struct {
		name  string
		users int // 0: the demo directory
		user  string
	}{{"demo", 0, "alice@example.com"}, {"10k", 10_000, "user0000001@example.com"}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, dirFile := postgresConfig(b)
			if tc.users > 0 {
				f, err := os.Create(dirFile)
				if err != nil {
					b.Fatal(err)
				}
				if err := dirfiletest.Generate(f, tc.users); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				cfg.Source.Filter.Groups = nil // the demo's group is not in it
			}
			benchCommitToViewSwap(b, cfg, tc.user)
		})
	}
}

func benchCommitToViewSwap(b *testing.B, cfg *Config, mail string) {
	g := runGateway(b, cfg, testLog(), func(g *Gateway) { g.storePoll = time.Hour }) // notices alone
	cli, err := OpenStore(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	user, ok := g.View().UserByMail(mail)
	if !ok {
		b.Fatalf("%s is not in the view", mail)
	}
	lags := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		grant := i%2 == 0
		before := g.View()
		if grant {
			err = cli.GrantAdmin(b.Context(), user.ID, "export")
		} else {
			err = cli.RevokeAdmin(b.Context(), user.ID, "export")
		}
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		// Polled finely: waitFor's 5 ms steps would be the measurement.
		for {
			if v := g.View(); v != before {
				if u, _ := v.UserByMail(mail); slices.Contains(u.Privileges, "export") == grant {
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
