package google_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// Sizes of the quota benchmark: small enough to run in minutes even at a
// tenth of the quota, big enough that the quota, not the latency, sets the
// pace (one page per call; 523 calls).
const (
	quotaUsers    = 10_000
	quotaGroups   = 500
	quotaPerGroup = 60 // one page of members each
	googleQuota   = 2400
)

// BenchmarkSyncQuota fetches 10,000 users, 500 groups and 30,000
// memberships from the fake enforcing Google's default quota (2,400 calls
// a minute, token bucket), 20 ms added to every call, with the default
// pace (2,000 a minute): once with the quota to itself, once with 90% of
// it used by something else. It reports the wall time, the calls, the
// 403s, and the wall time against the floor the pace allows (calls /
// 2,000 a minute) and, where the quota is the tighter limit, against the
// quota's floor (the calls beyond the bucket's first fill / the rate the
// others leave: 240 a minute):
//
//	go test ./sync/google -run '^$' -bench SyncQuota -benchtime 1x -timeout 20m
func BenchmarkSyncQuota(b *testing.B) {
	for _, others := range []float64{0, 0.9} {
		b.Run(fmt.Sprintf("others=%.0f%%", others*100), func(b *testing.B) {
			srv := googletest.New(b)
			sa := googletest.NewServiceAccount(b, "ldapgate@bench.iam.gserviceaccount.com")
			srv.AddServiceAccount(sa)
			srv.Delegate(sa, googletest.AllScopes...)
			srv.SetAdmin("user000000@example.com", true)
			quotaOrg(srv)
			srv.SetLatency(benchLatency)
			keyFile := googletest.WriteFile(b, "key.json", sa.JSONKey(b, srv.TokenURL))
			for b.Loop() {
				srv.ResetCounts()
				srv.SetQuota(googletest.Quota{Calls: googleQuota, Per: time.Minute, Others: others})
				src := google.New(google.Config{KeyFile: keyFile, AdminEmail: "user000000@example.com", APIEndpoint: srv.APIEndpoint})
				start := time.Now()
				snap, err := src.Fetch(context.Background())
				wall := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Users) != quotaUsers || len(snap.Members) != quotaGroups {
					b.Fatalf("fetched %d users, %d member lists", len(snap.Users), len(snap.Members))
				}
				calls, refused := srv.APICalls(), srv.QuotaRefused()
				left := googleQuota * (1 - others) // a minute, and the bucket's first fill
				paceFloor := float64(calls-refused) / google.DefaultMaxCallsPerMinute * 60
				quotaFloor := (float64(calls-refused) - left) / left * 60
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(calls), "api-calls")
				b.ReportMetric(float64(refused), "403s")
				b.ReportMetric(float64(src.Retries()), "retries")
				b.ReportMetric(wall.Seconds()/paceFloor, "wall/pace-floor")
				if quotaFloor > paceFloor {
					b.ReportMetric(wall.Seconds()/quotaFloor, "wall/quota-floor")
				}
				b.ReportMetric(src.Rate(), "end-rate/min")
			}
		})
	}
}

// quotaOrg fills srv with the quota benchmark's organisation.
func quotaOrg(srv *googletest.Server) {
	users := make([]*admin.User, quotaUsers)
	for i := range users {
		users[i] = &admin.User{Id: fmt.Sprintf("1%08d", i), PrimaryEmail: fmt.Sprintf("user%06d@example.com", i),
			Name: &admin.UserName{GivenName: "User", FamilyName: strconv.Itoa(i)}, OrgUnitPath: "/"}
	}
	groups := make([]*admin.Group, quotaGroups)
	members := make(map[string][]*admin.Member, quotaGroups)
	for i := range groups {
		id := fmt.Sprintf("g%05d", i)
		groups[i] = &admin.Group{Id: id, Email: fmt.Sprintf("group%05d@example.com", i), Name: "Group " + strconv.Itoa(i)}
		ms := make([]*admin.Member, quotaPerGroup)
		for j := range ms {
			u := users[(i*quotaPerGroup+j)%quotaUsers]
			ms[j] = &admin.Member{Type: "USER", Id: u.Id, Email: u.PrimaryEmail, Role: "MEMBER"}
		}
		members[id] = ms
	}
	srv.SetUsers(users)
	srv.SetGroups(groups)
	srv.SetAllMembers(members)
}
