package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/pgtest"
	"github.com/ldapgate/ldapgate/sync/engine"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// postgresConfig is the demo config on a fresh PostgreSQL database, its
// DSN in an environment variable, and the path of its directory file.
func postgresConfig(t testing.TB) (*Config, string) {
	t.Helper()
	return postgresConfigOn(t, pgtest.DSN(t))
}

// postgresConfigOn is postgresConfig on the database dsn.
func postgresConfigOn(t testing.TB, dsn string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	text, dirFile := demoFiles(t, dir)
	t.Setenv("TEST_LDAPGATE_DSN", dsn)
	text = strings.Replace(text, "  path: "+filepath.Join(dir, "ldapgate.db"), "  driver: postgres\n  dsn_env: TEST_LDAPGATE_DSN", 1)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dirFile
}

// Two ldapgates on one PostgreSQL database serve the same directory (the
// second one's first sync finds nothing to apply), and both serve a
// privilege granted by a third process (the CLI).
func TestGatewaysShareAPostgresStore(t *testing.T) {
	cfg, _ := postgresConfig(t)
	fast := func(g *Gateway) { g.storePoll = 10 * time.Millisecond }
	a, b := runGateway(t, cfg, testLog(), fast), runGateway(t, cfg, testLog(), fast)

	names := func(g *Gateway) []string {
		var out []string
		for _, u := range g.View().Users {
			out = append(out, u.PrimaryEmail)
		}
		slices.Sort(out)
		return out
	}
	if len(names(a)) == 0 {
		t.Fatal("the first ldapgate serves no users after its sync")
	}
	if diff := cmp.Diff(names(b), names(a)); diff != "" {
		t.Errorf("users served by the second ldapgate (-got +want):\n%s", diff)
	}
	st, err := a.DB().LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 1 {
		t.Errorf("directory generation %d after two starts, want 1: the second applied again", st.Generation)
	}

	cli, err := OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	alice, ok := a.View().UserByMail("alice@example.com")
	if !ok {
		t.Fatal("demo alice is not served")
	}
	if err := cli.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gateway{a, b} {
		waitFor(t, "the grant made by another process served", func() bool {
			u, _ := g.View().UserByMail("alice@example.com")
			return slices.Contains(u.Privileges, "export")
		})
	}
}

// Of two ldapgates on one store, one runs the scheduled syncs; a sync by
// hand while another runs is refused; two syncs started at once apply the
// change once; when the leader stops, the other takes over.
func TestOneInstanceRunsTheScheduledSyncs(t *testing.T) {
	cfg, dirFile := postgresConfig(t)
	fast := func(g *Gateway) { g.leases.every, g.storePoll = 10*time.Millisecond, 10*time.Millisecond }
	a, stopA := startGateway(t, cfg, testLog(), fast)
	b, _ := startGateway(t, cfg, testLog(), fast)
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders: first %v, second %v; want the first only", a.IsLeader(), b.IsLeader())
	}
	runs, err := a.DB().SyncRuns(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Errorf("%d sync runs after two starts, want 1: the second instance synced too", len(runs))
	}

	// A sync by hand (the CLI is a gateway too) while another one runs.
	cli, err := OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.TakeLease(t.Context(), leaseSync, "other-host:42:cafe", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = b.Sync(t.Context(), engine.RunOptions{})
	if !errors.Is(err, ErrSyncRunning) || !strings.Contains(err.Error(), "other-host:42:cafe") {
		t.Fatalf("sync while another ldapgate syncs: %v, want ErrSyncRunning naming it", err)
	}
	if err := cli.DropLease(t.Context(), leaseSync, "other-host:42:cafe"); err != nil {
		t.Fatal(err)
	}

	// Two syncs at the same moment on a changed source: the change is
	// applied once, whichever ran; the other is refused or finds nothing.
	editDirectory(t, dirFile, func(doc map[string]any) {
		for _, u := range doc["users"].(map[string]any)["users"].([]any) {
			if u := u.(map[string]any); u["primaryEmail"] == "alice@example.com" {
				u["name"].(map[string]any)["givenName"] = "Alicia"
			}
		}
	})
	before, err := cli.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		results [2]*engine.Result
		errs    [2]error
	)
	for i, g := range []*Gateway{a, b} {
		wg.Go(func() { results[i], errs[i] = g.Sync(t.Context(), engine.RunOptions{}) })
	}
	wg.Wait()
	updated := 0
	for i := range 2 {
		switch {
		case errs[i] != nil && !errors.Is(errs[i], ErrSyncRunning):
			t.Errorf("sync %d: %v", i, errs[i])
		case errs[i] == nil:
			updated += results[i].Counts.UsersUpdated
		}
	}
	after, err := cli.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if updated != 1 || after.Generation != before.Generation+1 {
		t.Errorf("two syncs at once: %d users updated, generation %d -> %d; want 1 update, one generation",
			updated, before.Generation, after.Generation)
	}

	// The leader stops (and gives the lease up): the other takes over, and
	// its next sync is due an interval after the last successful one.
	stopA()
	waitFor(t, "the second instance takes the scheduler lease", b.IsLeader)
	waitFor(t, "the new leader schedules from the last successful sync", func() bool {
		last := b.LastSuccessfulSync()
		return !last.IsZero() && b.NextSync().Equal(last.Add(cfg.Sync.Interval.D()))
	})
}

// An instance that takes the scheduler lease over from one that died in
// the middle of a sync syncs at once, though the dead one's sync lease
// (renewed on a ticker of its own) has not lapsed yet.
func TestTakeOverFromALeaderThatDiedSyncing(t *testing.T) {
	cfg, _ := postgresConfig(t)
	cli, err := OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// The leader, alive while the instance starts, syncing.
	const dead = "dead-host:1:0bad"
	for _, name := range []string{leaseScheduler, leaseSync} {
		if _, err := cli.TakeLease(t.Context(), name, dead, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := startGateway(t, cfg, testLog(), func(g *Gateway) { g.leases.every, g.storePoll = 10*time.Millisecond, 10*time.Millisecond })
	if g.IsLeader() {
		t.Fatal("the instance took a scheduler lease another holds")
	}
	// It dies: its scheduler lease lapses first, its sync lease later.
	if _, err := cli.TakeLease(t.Context(), leaseScheduler, dead, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance takes the lapsed scheduler lease", g.IsLeader)
	waitFor(t, "the new leader's sync", func() bool {
		runs, err := cli.SyncRuns(t.Context(), 0)
		return err == nil && len(runs) == 1 && runs[0].Error == ""
	})
}

// Three ldapgates on one store: a sync on the leader, and a grant by the
// CLI, reach the others' views by the store's notices (their polls are
// an hour apart here); an app password revoked on one stops working on
// every one at the next bind.
func TestThreeInstancesServeChanges(t *testing.T) {
	cfg, dirFile := postgresConfig(t)
	noPoll := func(g *Gateway) { g.storePoll = time.Hour }
	var gs []*Gateway
	for range 3 {
		g, _ := startGateway(t, cfg, testLog(), noPoll)
		gs = append(gs, g)
	}
	leader, followers := gs[0], gs[1:]
	if !leader.IsLeader() {
		t.Fatal("the first instance does not hold the scheduler lease")
	}
	givenName := func(g *Gateway) string {
		u, _ := g.View().UserByMail("alice@example.com")
		return u.GivenName
	}

	editDirectory(t, dirFile, func(doc map[string]any) {
		for _, u := range doc["users"].(map[string]any)["users"].([]any) {
			if u := u.(map[string]any); u["primaryEmail"] == "alice@example.com" {
				u["name"].(map[string]any)["givenName"] = "Alicia"
			}
		}
	})
	if res, err := leader.Sync(t.Context(), engine.RunOptions{}); err != nil || res.Counts.UsersUpdated != 1 {
		t.Fatalf("leader's sync: %+v, %v", res, err)
	}
	var lags []time.Duration
	for i, g := range followers {
		start := time.Now()
		waitFor(t, fmt.Sprintf("follower %d serves the leader's sync", i), func() bool { return givenName(g) == "Alicia" })
		lags = append(lags, time.Since(start))
	}

	// Grants by the CLI, each timed from its commit to the swap of the
	// view on the followers.
	cli, err := OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	alice, _ := leader.View().UserByMail("alice@example.com")
	for i := range 10 {
		grant := i%2 == 0
		var err error
		if grant {
			err = cli.GrantAdmin(t.Context(), alice.ID, "export")
		} else {
			err = cli.RevokeAdmin(t.Context(), alice.ID, "export")
		}
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, g := range followers {
			waitFor(t, "a follower serves a grant", func() bool {
				u, _ := g.View().UserByMail("alice@example.com")
				return slices.Contains(u.Privileges, "export") == grant
			})
			lags = append(lags, time.Since(start))
		}
	}
	slices.Sort(lags)
	t.Logf("commit to view swap on another instance: p50 %v, max %v (%d samples)",
		lags[len(lags)/2], lags[len(lags)-1], len(lags))

	// An app password works on every instance, until revoked on one.
	pw, ap, err := apppassword.New(alice.ID, "archive", "")
	if err != nil {
		t.Fatal(err)
	}
	if ap, err = cli.CreateAppPassword(t.Context(), ap); err != nil {
		t.Fatal(err)
	}
	const aliceDN = "uid=alice,ou=people,dc=example,dc=com"
	for i, g := range gs {
		if err := bindErr(t, "ldap://"+g.LDAPAddrs()[0].String(), aliceDN, pw); err != nil {
			t.Fatalf("app password bind on instance %d: %v", i, err)
		}
	}
	if err := gs[1].DB().RevokeAppPassword(t.Context(), alice.ID, ap.ID); err != nil {
		t.Fatal(err)
	}
	for i, g := range gs {
		err := bindErr(t, "ldap://"+g.LDAPAddrs()[0].String(), aliceDN, pw)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("first bind on instance %d after the revocation: %v, want invalidCredentials", i, err)
		}
	}
}

// When its PostgreSQL server stops, an instance keeps serving searches from
// its view, and is not ready (it cannot see revocations made elsewhere):
// /readyz fails naming the outage and since when, /healthz does not, and
// ldapgate_store_up is 0, until the server is back.
func TestStoreUnreachable(t *testing.T) {
	pg := pgtest.Own(t)
	cfg, _ := postgresConfigOn(t, pg.NewDatabase(t))
	g, _ := startGateway(t, cfg, testLog(), func(g *Gateway) { g.storePoll = 10 * time.Millisecond })
	ops := g.opsMux(true)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		ops.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", code, body)
	}

	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz fails", func() bool {
		code, _ := get("/readyz")
		return code == http.StatusServiceUnavailable
	})
	_, body := get("/readyz")
	var h health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "the store cannot be reached") ||
		!strings.HasPrefix(h.Reasons[0], "since "+time.Now().UTC().Format("2006-01-02T")) {
		t.Errorf("/readyz reasons while the server is down: %q, want one naming the store and since when", h.Reasons)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"storeUnreachable":"since `) {
		t.Errorf("/healthz while the server is down: %d %s, want 200 with storeUnreachable", code, body)
	}
	conn, err := ldap.DialURL("ldap://" + g.LDAPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind("cn=archive,ou=services,dc=example,dc=com", demoPassword); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail=alice@example.com)", []string{"uid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search while the server is down: %v", err)
	}
	if v := gathered(t, g, "ldapgate_store_up"); v != 0 {
		t.Errorf("ldapgate_store_up = %v while the server is down, want 0", v)
	}

	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz passes once the server is back", func() bool {
		code, _ := get("/readyz")
		return code == http.StatusOK
	})
	if v := gathered(t, g, "ldapgate_store_up"); v != 1 {
		t.Errorf("ldapgate_store_up = %v once the server is back, want 1", v)
	}
	if _, body := get("/healthz"); strings.Contains(body, "storeUnreachable") {
		t.Errorf("/healthz once the server is back: %s", body)
	}
}

// gathered is the value of the gateway's gauge name.
func gathered(t *testing.T, g *Gateway, name string) float64 {
	t.Helper()
	mfs, err := g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
