package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ldapgate/ldapgate/internal/pgtest"
	"github.com/ldapgate/ldapgate/store"
)

// TestKillLeaderDuringApply: three instances on one PostgreSQL database,
// the leader applying the first sync of a 50,000-user directory; killed
// with SIGKILL while its apply transaction is writing, it leaves no run and
// no data behind (all old), or the whole sync (all new), never a part;
// another instance takes the scheduler lease within sync.lease_ttl (and a
// renewal period) and completes the sync, which the third one serves.
func TestKillLeaderDuringApply(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := build(t, "./cmd/ldapgate")
	bench := build(t, "./cmd/ldapgate-bench")
	const users = 50000
	dirFile := filepath.Join(t.TempDir(), "directory.json")
	out, err := os.Create(dirFile)
	if err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(bench, "-gen-directory", "-n", fmt.Sprint(users))
	gen.Stdout, gen.Stderr = out, os.Stderr
	if err := gen.Run(); err != nil {
		t.Fatalf("ldapgate-bench -gen-directory: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}

	const ttl = 15 * time.Second // the least sync.lease_ttl
	edit := func(text string) string {
		return strings.NewReplacer(
			// Every generated user is in scope.
			"    groups: [archive-users@example.com]\n", "",
			"  interval: 15m\n", fmt.Sprintf("  interval: 15m\n  lease_ttl: %v\n", ttl),
			// Users, groups and memberships are enough to see a part
			// applied; 100,000 grants more would double the test's time.
			"  default_privileges: [login, read-own-archive]\n", "  default_privileges: []\n",
		).Replace(text)
	}
	var ins []*instance
	startAt := time.Now()
	for i := range 3 {
		ldapL, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metricsL, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, startInstance(t, fmt.Sprintf("instance %d", i), bin, instanceConfig(t, dirFile, edit), dsn, ldapL, metricsL))
	}
	const leads = "this instance runs the scheduled syncs"
	var leader *instance
	waitFor(t, 30*time.Second, "an instance takes the scheduler lease", func() bool {
		for _, in := range ins {
			if _, ok := in.log.find(0, leads); ok {
				leader = in
				return true
			}
		}
		return false
	})

	// The apply is under way when a transaction other than ours holds a
	// write lock on users and has written a part of them.
	db, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(t.Context())
	writing := func() (bool, int64) {
		var n int
		var size int64
		err := db.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			 WHERE c.relname = 'users' AND l.mode = 'RowExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid()),
			pg_relation_size('users')`).Scan(&n, &size)
		return err == nil && n > 0, size
	}
	var size int64
	waitFor(t, 60*time.Second, "the leader's apply writing users", func() bool {
		var w bool
		w, size = writing()
		return w && size >= 2<<20
	})
	killAt := time.Now()
	leader.kill9()
	t.Logf("killed %s %v after the start, its apply transaction open with %d kB of users written",
		leader.name, killAt.Sub(startAt).Round(100*time.Millisecond), size>>10)
	waitFor(t, 10*time.Second, "the killed leader's transaction ends", func() bool {
		w, _ := writing()
		return !w
	})

	st, err := store.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := func() [3]int {
		var c [3]int
		if err := db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups),
			(SELECT count(*) FROM group_user_members)`).Scan(&c[0], &c[1], &c[2]); err != nil {
			t.Fatal(err)
		}
		return c
	}
	afterKill := counts()
	runs, err := st.SyncRuns(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRuns(runs, func(r store.SyncRun) bool { return r.Error == "" }); n != 0 {
		t.Fatalf("%d successful runs right after the kill: the apply committed before the kill took effect, so this run tested nothing", n)
	}

	// Another instance takes the scheduler lease and syncs at once: no
	// sync succeeded yet.
	var next *instance
	waitFor(t, ttl+ttl/3+5*time.Second, "another instance takes the scheduler lease", func() bool {
		for _, in := range ins {
			if _, ok := in.log.find(0, leads); ok && in != leader {
				next = in
				return true
			}
		}
		return false
	})
	took := time.Since(killAt)
	if limit := ttl + ttl/3 + time.Second; took > limit {
		t.Errorf("another instance took the scheduler lease %v after the kill, want within %v (lease_ttl, a renewal period and 1 s)", took, limit)
	}
	done := waitLine(t, next.log, 0, 90*time.Second, `msg="sync done"`)
	final := counts()
	if final[0] != users {
		t.Fatalf("%d users after %s's sync, want %d: %s", final[0], next.name, users, done)
	}
	if afterKill != [3]int{} && afterKill != final {
		t.Errorf("users, groups, memberships after the kill: %v; want all old (none) or all new %v", afterKill, final)
	}
	runs, err = st.SyncRuns(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if succeeded := countRuns(runs, func(r store.SyncRun) bool { return r.Error == "" }); succeeded != 1 {
		t.Errorf("%d successful sync runs recorded, want 1 (the new leader's; the killed one's absent or failed)", succeeded)
	}
	t.Logf("after the kill: users, groups, memberships %v, %d runs recorded; %s took the scheduler lease %v after the kill and synced %v",
		afterKill, len(runs)-1, next.name, took.Round(100*time.Millisecond), final)

	// The third instance serves the new leader's sync.
	for _, in := range ins {
		if in != leader && in != next {
			waitFor(t, 10*time.Second, in.name+" serves the new leader's sync", func() bool {
				return logOn(in.ldap, fmt.Sprintf("user%07d@example.com", users-1)) == nil
			})
		}
	}
}

func countRuns(runs []store.SyncRun, f func(store.SyncRun) bool) int {
	n := 0
	for _, r := range runs {
		if f(r) {
			n++
		}
	}
	return n
}
