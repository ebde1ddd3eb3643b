package gateway

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// postgresConfig is the demo config on a fresh PostgreSQL database, its
// DSN in an environment variable.
func postgresConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	text, _ := demoFiles(t, dir)
	t.Setenv("TEST_LDAPGATE_DSN", pgtest.DSN(t))
	text = strings.Replace(text, "  path: "+filepath.Join(dir, "ldapgate.db"), "  driver: postgres\n  dsn_env: TEST_LDAPGATE_DSN", 1)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Two ldapgates on one PostgreSQL database serve the same directory (the
// second one's first sync finds nothing to apply), and both serve a
// privilege granted by a third process (the CLI).
func TestGatewaysShareAPostgresStore(t *testing.T) {
	cfg := postgresConfig(t)
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
		t.Errorf("directory generation %d after two first syncs, want 1: the second applied again", st.Generation)
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
	deadline := time.Now().Add(10 * time.Second)
	for _, g := range []*Gateway{a, b} {
		for {
			if u, _ := g.View().UserByMail("alice@example.com"); slices.Contains(u.Privileges, "export") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the grant made by another process was not served within 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
