package gateway

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	base := demoConfigText(t, t.TempDir())
	parse := func(t testing.TB, text string) *Config {
		t.Helper()
		c, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(t, base)
	tests := []struct {
		name     string
		from, to string
		want     []Change
	}{
		{"same", "", "", nil},
		{"interval", "interval: 15m", "interval: 30m", []Change{{Key: "sync.interval", Old: "15m0s", New: "30m0s", Effect: EffectNow}}},
		{"changes interval", "interval: 15m", "interval: 15m\n  changes_interval: 30s",
			[]Change{{Key: "sync.changes_interval", Old: "1m0s", New: "30s", Effect: EffectNow}}},
		{"filter", "groups: [archive-users@example.com]", "groups: [staff@example.com]",
			[]Change{{Key: "source.filter.groups", Old: "[archive-users@example.com]", New: "[staff@example.com]", Effect: EffectNextSync}}},
		{"listen", "ldap:\n  listen: 127.0.0.1:0", "ldap:\n  listen: 127.0.0.1:389",
			[]Change{{Key: "ldap.listen", Old: `"127.0.0.1:0"`, New: `"127.0.0.1:389"`, Effect: EffectRestart}}},
		{"binds", "binds: [app_password]", "binds: []",
			[]Change{{Key: "binds", Old: "[app_password]", New: "[]", Effect: EffectNow}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, tt.from, tt.to, 1)
			if tt.from != "" && text == base {
				t.Fatalf("%q not in the config", tt.from)
			}
			got := Diff(old, parse(t, text))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Diff (-got +want):\n%s", diff)
			}
			if NeedsRestart(got) != (tt.name == "listen") {
				t.Errorf("NeedsRestart = %v", NeedsRestart(got))
			}
		})
	}
	// Password hashes are never shown.
	changed := parse(t, withArchivePassword(t, base, "x"))
	for _, c := range Diff(old, changed) {
		if strings.Contains(c.Old+c.New, "$argon2id") {
			t.Errorf("diff shows a hash: %v", c)
		}
	}
}
