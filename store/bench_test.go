package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigPlan adds users users, groups groups, perUser group memberships per
// user and one default grant per user.
func bigPlan(users, groups, perUser int) *Plan {
	p := &Plan{}
	for g := range groups {
		grp := Group{ID: "g" + strconv.Itoa(g), CN: fmt.Sprintf("group%05d", g), Email: fmt.Sprintf("group%05d@example.com", g),
			Name: fmt.Sprintf("Group %d", g)}
		p.Groups = append(p.Groups, GroupChange{Action: ActionAdd, Group: grp, Reason: "new in source"})
	}
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range users {
		u := User{
			ID: strconv.Itoa(100000000000 + i), UID: fmt.Sprintf("user%06d", i), PrimaryEmail: fmt.Sprintf("user%06d@example.com", i),
			Aliases:   []string{fmt.Sprintf("u%06d@example.org", i)},
			GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i), DisplayName: fmt.Sprintf("Given Family%d", i),
			OrgUnitPath: "/Staff", SourceCreated: created, LastLogin: created.Add(time.Duration(i) * time.Minute), Origin: OriginDirectory,
		}
		p.Users = append(p.Users, UserChange{Action: ActionAdd, User: u, Reason: "new in source"})
		p.Grants = append(p.Grants, GrantChange{Action: ActionAdd, UserEmail: u.PrimaryEmail, Reason: "default",
			Grant: Grant{UserID: u.ID, Privilege: "login", Origin: GrantDefault}})
		for k := range perUser {
			g := p.Groups[(i+k*groups/perUser)%groups].Group
			p.Members = append(p.Members, MemberChange{Action: ActionAdd, GroupID: g.ID, GroupEmail: g.Email,
				Member: Member{Type: MemberUser, ID: u.ID, Email: u.PrimaryEmail}, Reason: "member in the source"})
		}
	}
	return p
}

// BenchmarkApplyAndLoad applies a first sync of 10,000 or 100,000 users
// (with a twentieth as many groups, three memberships and a grant per user)
// to an empty store, then loads the state and builds the view from it, on
// each backend in the same run. It reports the two phases separately: time,
// bytes allocated, the live heap's peak during the apply, and on PostgreSQL
// the server's CPU time.
func BenchmarkApplyAndLoad(b *testing.B) {
	for _, size := range []struct {
		name  string
		users int
	}{{"10k", 10_000}, {"100k", 100_000}} {
		groups, perUser := size.users/20, 3
		var plan *Plan // built only if a benchmark of this size runs
		for _, be := range backends {
			b.Run(size.name+"/"+be.name, func(b *testing.B) {
				if plan == nil {
					b.StopTimer() // not counted in the first backend's allocations
					plan = bigPlan(size.users, groups, perUser)
					b.StartTimer()
				}
				benchApplyAndLoad(b, be, plan, size.users, groups, perUser)
			})
		}
	}
}

func benchApplyAndLoad(b *testing.B, be backend, plan *Plan, users, groups, perUser int) {
	var (
		apply, load, server        time.Duration
		applyAlloc, loadAlloc, top uint64
	)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := be.openAt(b, be.fresh(b))
		runtime.GC()
		cpu := serverCPU(b, db)
		before := cpu()
		peak := watchHeap()
		b.StartTimer()

		start, alloc0 := time.Now(), totalAlloc()
		if _, err := db.Apply(b.Context(), plan, SyncRun{StartedAt: start, Source: "bench"}); err != nil {
			b.Fatal(err)
		}
		applied, alloc1 := time.Now(), totalAlloc()
		server += cpu() - before
		top = max(top, peak())
		st, err := db.LoadState(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		v := NewView(st, nil, time.Now())
		apply += applied.Sub(start)
		load += time.Since(applied)
		applyAlloc += alloc1 - alloc0
		loadAlloc += totalAlloc() - alloc1

		b.StopTimer()
		if len(v.Users) != users || len(v.Groups) != groups || len(v.Users[0].Groups) != perUser {
			b.Fatalf("view has %d users, %d groups, %d groups of the first user",
				len(v.Users), len(v.Groups), len(v.Users[0].Groups))
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(apply.Seconds()/n, "apply-s/op")
	b.ReportMetric(float64(applyAlloc)/n/1e6, "apply-MB/op")
	b.ReportMetric(float64(top)/1e6, "apply-peak-heap-MB")
	b.ReportMetric(load.Seconds()/n, "load+view-s/op")
	b.ReportMetric(float64(loadAlloc)/n/1e6, "load+view-MB/op")
	if server > 0 {
		b.ReportMetric(server.Seconds()/n, "pg-server-cpu-s/op")
	}
}

// totalAlloc is the bytes the process has allocated so far.
func totalAlloc() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap samples the heap's live and unswept objects until peak is
// called, which returns the most seen.
func watchHeap() (peak func() uint64) {
	done, top := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var most uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			most = max(most, s[0].Value.Uint64())
			select {
			case <-done:
				top <- most
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-top }
}

// serverCPU returns a function that reads the CPU time (user and system)
// the PostgreSQL server db is on has used so far: the postmaster, its
// children and its children gone. On SQLite, or without /proc, it reads 0.
func serverCPU(tb testing.TB, db *DB) func() time.Duration {
	tb.Helper()
	if _, pg := db.write.eng.(pgEngine); !pg {
		return func() time.Duration { return 0 }
	}
	var backend int
	if err := db.write.QueryRowContext(tb.Context(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		tb.Fatal(err)
	}
	postmaster, _, _, ok := procStat(backend)
	if !ok {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		_, own, gone, _ := procStat(postmaster)
		total := own + gone
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			pid, _ := strconv.Atoi(filepath.Base(p))
			if ppid, cpu, _, ok := procStat(pid); ok && ppid == postmaster {
				total += cpu
			}
		}
		return total
	}
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTick = time.Second / 100

// procStat reads the parent, the CPU time and the CPU time of the reaped
// children of process pid from /proc/<pid>/stat.
func procStat(pid int) (ppid int, cpu, children time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name, in parentheses, may hold spaces; fields follow it,
	// from the third (state) on.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	n := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	ppid, _ = strconv.Atoi(f[4-3])
	return ppid, n(14) + n(15), n(16) + n(17), true
}

// BenchmarkDeleteAndReturn10k deletes 10,000 users (with 30,000
// memberships and a grant each) in one apply, then adds them back, with
// tombstones kept (the default) and without (deleted_retention: 0s). It
// reports the two phases separately: what tombstones cost a mass deletion,
// and what restoring from them costs.
func BenchmarkDeleteAndReturn10k(b *testing.B) {
	const users, groups, perUser = 10_000, 100, 3
	seed := bigPlan(users, groups, perUser)
	del, back := &Plan{}, &Plan{Users: seed.Users, Grants: seed.Grants, Members: seed.Members}
	for _, c := range seed.Users {
		del.Users = append(del.Users, UserChange{Action: ActionDelete, User: c.User, Reason: "deleted in the source"})
	}
	for _, tc := range []struct {
		name      string
		retention time.Duration
	}{{"tombstones", DefaultDeletedRetention}, {"none", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var deleting, returning time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db := openPath(b, filepath.Join(b.TempDir(), "ldapgate.db"))
				db.DeletedRetention = tc.retention
				if _, err := db.Apply(b.Context(), seed, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if _, err := db.Apply(b.Context(), del, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				deleted := time.Now()
				if tc.retention > 0 { // the engine plans no default grants for returning users
					if _, err := db.Apply(b.Context(), &Plan{Users: back.Users, Members: back.Members}, SyncRun{Source: "bench"}); err != nil {
						b.Fatal(err)
					}
				} else if _, err := db.Apply(b.Context(), back, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				deleting += deleted.Sub(start)
				returning += time.Since(deleted)
				b.StopTimer()
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(deleting.Seconds()/float64(b.N), "delete-s/op")
			b.ReportMetric(returning.Seconds()/float64(b.N), "return-s/op")
		})
	}
}
