package gateway

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/passhash"
)

// minimal is a valid config the error cases below break one line at a time.
const minimal = `domain: example.com
source:
  type: file
  file: dir.json
  filter:
    groups: [archive-users@example.com]
sync:
  interval: 5m
  default_privileges: [login]
  privilege_rules:
    - group: archive-admins@example.com
      privileges: [admin, export]
store:
  path: data/ldapgate.db
ldap:
  listen: 127.0.0.1:3389
service_accounts:
  - name: archive
    password_hash_env: TEST_ARCHIVE_HASH
`

func testHash(t testing.TB) string {
	t.Helper()
	h, err := passhash.Hash("s3cret-archive", passhash.Default)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseConfigDefaults(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	cfg, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"base_dn":     cfg.LDAP.BaseDN,
		"store":       cfg.StorePath(),
		"source":      cfg.SourceFile(),
		"interval":    cfg.Sync.Interval.D(),
		"timeout":     cfg.Sync.Timeout.D(),
		"delete":      cfg.DeleteUsers(),
		"max_delete":  cfg.MaxDeletePercent(),
		"privileges":  cfg.Privileges(),
		"max_message": cfg.LDAP.MaxMessageBytes,
		"log":         cfg.Log,
		"retention":   cfg.DeletedRetention(),
		"keep_apppw":  cfg.Sync.KeepAppPasswordsOnSuspend,
	}
	want := map[string]any{
		"base_dn":     "dc=example,dc=com",
		"store":       "/etc/ldapgate/data/ldapgate.db",
		"source":      "/etc/ldapgate/dir.json",
		"interval":    5 * time.Minute,
		"timeout":     DefaultTimeout,
		"delete":      true,
		"max_delete":  float64(DefaultMaxDeletePercent),
		"privileges":  []string{"admin", "export", "login"},
		"max_message": int64(DefaultMaxMessageBytes),
		"log":         LogConfig{Level: "info", Format: "text"},
		"retention":   30 * 24 * time.Hour,
		"keep_apppw":  false,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("config (-got +want):\n%s", diff)
	}
}

func TestBindLimitConfig(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	text := strings.Replace(minimal, "  listen: 127.0.0.1:3389", `  listen: 127.0.0.1:3389
  bind_limit:
    per_name_total: 30
    trusted_networks: [192.0.2.0/24, "2001:db8::7", 10.9.8.7/8]
    failure_delay: -1s`, 1)
	cfg, err := ParseConfig("cfg.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.LDAPBindLimit()
	want := directory.BindLimit{PerNameTotal: 30, FailureDelay: -time.Second, TrustedNetworks: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::7/128"), netip.MustParsePrefix("10.0.0.0/8")}}
	if diff := cmp.Diff(got, want, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("bind limit (-got +want):\n%s", diff)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	tests := []struct {
		name    string
		replace [2]string // old, new in minimal
		want    []string  // substrings of the error
	}{
		{"top-level typo", [2]string{"sync:", "sycn:"}, []string{"cfg.yaml:7:", `unknown key "sycn" in the top level`, `did you mean "sync"?`}},
		{"nested typo", [2]string{"    groups:", "    grups:"}, []string{"cfg.yaml:6:", `unknown key "grups" in source.filter`, "expected one of: groups, org_units, include_suspended, include_archived"}},
		{"typo in list item", [2]string{"      privileges: [admin", "      privilege: [admin"}, []string{"cfg.yaml:12:", `in sync.privilege_rules[0]`, `did you mean "privileges"?`}},
		{"bad duration", [2]string{"interval: 5m", "interval: five minutes"}, []string{"cfg.yaml:8:", "expected a duration"}},
		{"wrong type", [2]string{"ldap:\n  listen: 127.0.0.1:3389", "ldap:\n  size_limit: lots"}, []string{"cfg.yaml:16:", "cannot unmarshal"}},
		{"unknown source type", [2]string{"type: file", "type: ldif"}, []string{"cfg.yaml:3:", `source.type: expected "file" or "google", got "ldif"`}},
		{"missing domain", [2]string{"domain: example.com\n", ""}, []string{"domain: required"}},
		{"filter group not an email", [2]string{"[archive-users@example.com]", "[archive-users]"}, []string{"cfg.yaml:6:", "expected a group email address"}},
		{"negative retention", [2]string{"interval: 5m", "interval: 5m\n  deleted_retention: -1h"}, []string{"cfg.yaml:9:", "sync.deleted_retention", "0s or more"}},
		{"lease too short", [2]string{"interval: 5m", "interval: 5m\n  lease_ttl: 5s"}, []string{"cfg.yaml:9:", "sync.lease_ttl: must be at least 15s"}},
		{"interval too short", [2]string{"interval: 5m", "interval: 5s"}, []string{"cfg.yaml:8:", "at least 1m"}},
		{"incremental without google", [2]string{"interval: 5m", "interval: 5m\n  incremental: true"}, []string{"cfg.yaml:9:", "sync.incremental: needs source.type google", `got source.type "file"`}},
		{"changes interval too short", [2]string{"interval: 5m", "interval: 5m\n  changes_interval: 2s"}, []string{"cfg.yaml:9:", "sync.changes_interval: must be at least 10s, got 2s"}},
		{"base DN the tree cannot root", [2]string{"  listen: 127.0.0.1:3389", "  base_dn: uid=root,dc=example,dc=com"}, []string{"cfg.yaml:16:", "first RDN must be dc, o, ou or c"}},
		{"bad listen", [2]string{"listen: 127.0.0.1:3389", "listen: localhost"}, []string{"cfg.yaml:16:", "expected host:port"}},
		{"two hash sources", [2]string{"password_hash_env: TEST_ARCHIVE_HASH", "password_hash_env: TEST_ARCHIVE_HASH\n    password_hash_file: x"}, []string{"cfg.yaml:18:", "exactly one of"}},
		{"unset hash env", [2]string{"TEST_ARCHIVE_HASH", "TEST_NOT_SET_ANYWHERE"}, []string{"TEST_NOT_SET_ANYWHERE is not set"}},
		{"short client cert fingerprint", [2]string{"password_hash_env: TEST_ARCHIVE_HASH", "password_hash_env: TEST_ARCHIVE_HASH\n    client_cert_sha256: AB:CD"},
			[]string{"cfg.yaml:20:", "service_accounts[0].client_cert_sha256", "expected 64 hex digits", "openssl x509"}},
		{"client cert without TLS", [2]string{"password_hash_env: TEST_ARCHIVE_HASH", "password_hash_env: TEST_ARCHIVE_HASH\n    client_cert_sha256: " + strings.Repeat("ab", 32)},
			[]string{"cfg.yaml:20:", "needs ldap.tls.cert_file"}},
		{"bad trusted network", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  bind_limit:\n    trusted_networks: [10.1.2.0/24, archive-host]"},
			[]string{"cfg.yaml:18:", "ldap.bind_limit.trusted_networks[1]", `expected a network such as 10.0.0.0/24 or an address, got "archive-host"`}},
		{"failure delay too long", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  bind_limit:\n    failure_delay: 5m"},
			[]string{"cfg.yaml:18:", "ldap.bind_limit.failure_delay", "up to 1m"}},
		{"require_tls without TLS", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  require_tls: true"}, []string{"cfg.yaml:17:", "ldap.require_tls: needs ldap.tls.cert_file"}},
		{"not yaml", [2]string{"source:\n", "source: [\n"}, []string{"cfg.yaml:"}},
		{"per-address limit above the global one", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  max_connections: 100\n  max_connections_per_address: 200"},
			[]string{"cfg.yaml:18:", "ldap.max_connections_per_address: must not exceed ldap.max_connections (100)"}},
		{"max connections below -1", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  max_connections: -5"},
			[]string{"cfg.yaml:17:", "ldap.max_connections: expected a number of connections, or -1"}},
		{"negative first bind timeout", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  first_bind_timeout: -5s"},
			[]string{"cfg.yaml:17:", "ldap.first_bind_timeout: must not be negative"}},
		{"negative idle timeout", [2]string{"  listen: 127.0.0.1:3389", "  listen: 127.0.0.1:3389\n  idle_timeout: -1m"},
			[]string{"cfg.yaml:17:", "ldap.idle_timeout: must not be negative"}},
		{"unknown store driver", [2]string{"  path: data/ldapgate.db", "  driver: mysql"}, []string{"cfg.yaml:14:", `store.driver: expected "sqlite" or "postgres", got "mysql"`}},
		{"postgres store with a path", [2]string{"  path: data/ldapgate.db", "  driver: postgres\n  path: data/ldapgate.db\n  dsn_env: LDAPGATE_DSN"},
			[]string{"cfg.yaml:15:", "store.path: goes with driver: sqlite"}},
		{"postgres store without a DSN", [2]string{"  path: data/ldapgate.db", "  driver: postgres"}, []string{"cfg.yaml:13:", "needs exactly one of dsn, dsn_file, dsn_env"}},
		{"postgres store with two DSNs", [2]string{"  path: data/ldapgate.db", "  driver: postgres\n  dsn: postgres://ldapgate@db.example.com/ldapgate\n  dsn_env: LDAPGATE_DSN"},
			[]string{"needs exactly one of dsn, dsn_file, dsn_env"}},
		{"sqlite store with a DSN", [2]string{"  path: data/ldapgate.db", "  path: data/ldapgate.db\n  dsn_file: /etc/ldapgate/dsn"}, []string{"cfg.yaml:13:", "go with driver: postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(minimal, tt.replace[0], tt.replace[1], 1)
			if text == minimal {
				t.Fatalf("replacement %q not found", tt.replace[0])
			}
			_, err := ParseConfig("cfg.yaml", []byte(text))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not ConfigErrors: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigSecretsStayOutOfErrors(t *testing.T) {
	// A malformed hash is reported without being echoed.
	const secret = "plaintext-password-pasted-by-mistake"
	t.Setenv("TEST_ARCHIVE_HASH", secret)
	_, err := ParseConfig("cfg.yaml", []byte(minimal))
	if err == nil {
		t.Fatal("a plain password as hash was accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error reveals the secret: %v", err)
	}
}

// A password in store.dsn is refused, and neither it nor the DSN is echoed.
func TestStoreDSNPasswordRefused(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	const secret = "s3cret-db-pass"
	for _, dsn := range []string{
		"postgres://ldapgate:" + secret + "@db.example.com/ldapgate",
		"postgres://ldapgate@db.example.com/ldapgate?password=" + secret,
		"host=db.example.com user=ldapgate password=" + secret,
		"host=db.example.com user=ldapgate password = " + secret,
	} {
		text := strings.Replace(minimal, "  path: data/ldapgate.db", "  driver: postgres\n  dsn: '"+dsn+"'", 1)
		_, err := ParseConfig("cfg.yaml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "store.dsn: holds a password") {
			t.Errorf("dsn %q: error %v, want store.dsn: holds a password", dsn, err)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "db.example.com") {
			t.Errorf("error reveals the DSN: %v", err)
		}
	}
	// Without a password it is fine: PGPASSWORD or ~/.pgpass supplies it.
	text := strings.Replace(minimal, "  path: data/ldapgate.db", "  driver: postgres\n  dsn: postgres://ldapgate@db.example.com/ldapgate", 1)
	if _, err := ParseConfig("cfg.yaml", []byte(text)); err != nil {
		t.Errorf("a DSN without a password: %v", err)
	}
}

// StoreDSN reads the DSN from its file or variable; a missing one fails
// the config check at the key's line, without the DSN.
func TestStoreDSNSources(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	const dsn = "postgres://ldapgate:pw@db.example.com/ldapgate"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_LDAPGATE_DSN", dsn)
	for _, tt := range []struct {
		key, want, wantErr string
	}{
		{"dsn_file: dsn", dsn, ""},
		{"dsn_env: TEST_LDAPGATE_DSN", dsn, ""},
		{"dsn_file: missing", "", "ldapgate.yaml:15: store.dsn_file: open "},
		{"dsn_env: TEST_NOT_SET_ANYWHERE", "", "ldapgate.yaml:15: store.dsn_env: environment variable TEST_NOT_SET_ANYWHERE is not set"},
	} {
		text := strings.Replace(minimal, "  path: data/ldapgate.db", "  driver: postgres\n  "+tt.key, 1)
		path := filepath.Join(dir, "ldapgate.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if tt.wantErr != "" { // config check says so, naming the key's line
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: LoadConfig error %v, want %q", tt.key, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.key, err)
		}
		got, err := cfg.StoreDSN()
		if err != nil || got != tt.want {
			t.Errorf("%s: StoreDSN = %q, %v; want the DSN", tt.key, got, err)
		}
		if strings.Contains(cfg.StoreName(), "pw") {
			t.Errorf("%s: StoreName %q reveals the DSN", tt.key, cfg.StoreName())
		}
	}
}

func TestConfigHashFromFile(t *testing.T) {
	dir := t.TempDir()
	h := testHash(t)
	if err := os.WriteFile(filepath.Join(dir, "archive.hash"), []byte(h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(minimal, "password_hash_env: TEST_ARCHIVE_HASH", "password_hash_file: archive.hash", 1)
	path := filepath.Join(dir, "ldapgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.ServiceAccountHash(cfg.ServiceAccounts[0])
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Errorf("hash from file = %q, want %q", got, h)
	}
}

func TestDemoConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Type != "file" || cfg.LDAP.Listen != DefaultListen {
		t.Errorf("demo config: source %q listen %q", cfg.Source.Type, cfg.LDAP.Listen)
	}
	if _, err := os.Stat(cfg.SourceFile()); err != nil {
		t.Errorf("demo directory file: %v", err)
	}
}

// TestDeclaredPrivileges: with privileges declared, the sync settings may
// use only those, and CheckPrivilege suggests the closest name; without,
// the names the sync settings use are the declared set.
func TestDeclaredPrivileges(t *testing.T) {
	dir := t.TempDir()
	text := demoConfigText(t, dir)
	path := filepath.Join(dir, "ldapgate.yaml")
	cfg, err := ParseConfig(path, []byte(strings.Replace(text, "privileges: [login, read-own-archive, admin, export, auditor]\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Privileges(), ","); got != "admin,export,login,read-own-archive" {
		t.Errorf("default privileges %s, want the names of default_privileges and privilege_rules", got)
	}
	err = cfg.CheckPrivilege("exprot")
	if err == nil || !strings.Contains(err.Error(), `unknown privilege "exprot" (did you mean "export"?)`) {
		t.Errorf("CheckPrivilege(exprot) = %v, want a did-you-mean", err)
	}
	if err := cfg.CheckPrivilege("export"); err != nil {
		t.Errorf("CheckPrivilege(export) = %v", err)
	}
	_, err = ParseConfig(path, []byte(strings.Replace(text, "privileges: [admin, export]", "privileges: [admin, exprot]", 1)))
	if err == nil || !strings.Contains(err.Error(), `sync.privilege_rules[0].privileges[1]: privilege "exprot" is not declared in privileges (did you mean "export"?)`) {
		t.Errorf("undeclared rule privilege: %v", err)
	}
}

func TestConfigConnectionLimits(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	text := strings.Replace(minimal, "  listen: 127.0.0.1:3389", `  listen: 127.0.0.1:3389
  max_connections: 2000
  max_connections_per_address: 50
  idle_timeout: 5m
  first_bind_timeout: 10s
  bind_limit:
    trusted_networks: [192.0.2.10/32, 10.1.2.3/8, "2001:db8::/32"]`, 1)
	cfg, err := ParseConfig("cfg.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.LDAP.MaxConnections, cfg.LDAP.MaxConnectionsPerAddress, cfg.LDAP.IdleTimeout.D(), cfg.LDAP.FirstBindTimeout.D()}
	want := []any{2000, 50, 5 * time.Minute, 10 * time.Second}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("limits (-got +want):\n%s", diff)
	}
	var nets []string
	for _, p := range cfg.LDAPBindLimit().TrustedNetworks {
		nets = append(nets, p.String())
	}
	if diff := cmp.Diff(nets, []string{"192.0.2.10/32", "10.0.0.0/8", "2001:db8::/32"}); diff != "" {
		t.Errorf("trusted networks (-got +want):\n%s", diff)
	}
	if e := effectOf("ldap.max_connections_per_address"); e != EffectRestart {
		t.Errorf("ldap.max_connections_per_address takes effect %v, want after a restart", e)
	}
	if e := effectOf("ldap.bind_limit.trusted_networks"); e != EffectNow {
		t.Errorf("ldap.bind_limit.trusted_networks takes effect %v, want at once", e)
	}
}
