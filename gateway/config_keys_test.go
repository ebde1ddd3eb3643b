package gateway

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
)

// configLeaves lists Config's settings by dotted key, as Diff sees them.
func configLeaves() []string {
	var keys []string
	v := reflect.ValueOf(Config{})
	walkKeys(v, v, "", func(key string, _, _ reflect.Value) { keys = append(keys, key) })
	return keys
}

// isConfigKey reports whether key is a setting of Config or a parent of some.
func isConfigKey(key string) bool {
	return slices.ContainsFunc(configLeaves(), func(leaf string) bool {
		return leaf == key || strings.HasPrefix(leaf, key+".")
	})
}

// TestConfigKeys fails when a Config field has no entry in configKeys (a
// new key must say when it takes effect) or an entry names no field.
func TestConfigKeys(t *testing.T) {
	for _, key := range configLeaves() {
		if !slices.ContainsFunc(keyAndParents(key), func(k string) bool { _, ok := configKeys[k]; return ok }) {
			t.Errorf("config key %s has no entry in configKeys", key)
		}
	}
	for k := range configKeys {
		if !isConfigKey(k) {
			t.Errorf("configKeys has %s, which is no config key", k)
		}
	}
}

// TestConfigKeysREADME checks the README's "Config reload" table against
// configKeys: every setting is in the row of its effect.
func TestConfigKeysREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Effect{
		"| at once |":                       EffectNow,
		"| with a sync that starts at once": EffectNextSync,
		"| after a restart |":               EffectRestart,
	}
	parens := regexp.MustCompile(`\([^)]*\)`)
	quoted := regexp.MustCompile("`([a-z_.]+)`")
	said := map[string]Effect{} // key named in the table -> its row
	for line := range strings.Lines(string(readme)) {
		for prefix, effect := range rows {
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			delete(rows, prefix)
			// (…) holds subkeys and remarks, not keys of their own.
			for _, m := range quoted.FindAllStringSubmatch(parens.ReplaceAllString(line, ""), -1) {
				said[m[1]] = effect
			}
		}
	}
	if len(rows) > 0 {
		t.Fatalf("README's Config reload table has no rows %v", rows)
	}
	for k := range said {
		if !isConfigKey(k) {
			t.Errorf("README's Config reload table lists %s, which is no config key", k)
		}
	}
	for _, key := range configLeaves() {
		i := slices.IndexFunc(keyAndParents(key), func(k string) bool { _, ok := said[k]; return ok })
		if i < 0 {
			t.Errorf("README's Config reload table does not list %s (configKeys: %s)", key, effectOf(key))
			continue
		}
		if k := keyAndParents(key)[i]; said[k] != effectOf(key) {
			t.Errorf("README's Config reload table puts %s (as %s) under %q, configKeys under %q", key, k, said[k], effectOf(key))
		}
	}
}

// TestKeepRestartOnly: the config in effect after a reload keeps the old
// value of every setting that needs a restart, and only of those.
func TestKeepRestartOnly(t *testing.T) {
	base := demoConfigText(t, t.TempDir())
	parse := func(text string) *Config {
		t.Helper()
		c, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := parse(base)
	edited := strings.Replace(base, "interval: 15m", "interval: 30m\n  deleted_retention: 1h", 1)
	edited = strings.Replace(edited, "ldap:\n  listen: 127.0.0.1:0", "ldap:\n  listen: 127.0.0.1:1\n  bind_limit:\n    per_name: 9", 1)
	next := parse(edited)
	eff := *next
	keepRestartOnly(&eff, cur, Diff(cur, next))
	got := []any{eff.Sync.Interval.D(), eff.DeletedRetention(), eff.LDAP.Listen, eff.LDAP.BindLimit.PerName}
	want := []any{30 * time.Minute, store.DefaultDeletedRetention, "127.0.0.1:0", 9}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("interval, retention, listen, per_name in effect (-got +want):\n%s", diff)
	}
	if eff.Path() != next.Path() {
		t.Errorf("path %q, want %q", eff.Path(), next.Path())
	}
}
