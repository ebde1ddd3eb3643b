package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// authPart is a valid bind chain and portal section appended to minimal.
const authPart = `binds: [app_password, id_token]
bind_cache_ttl: 30s
app_passwords:
  services:
    archive: [10.0.0.0/24, 192.0.2.7]
oidc:
  client_id: 1234.apps.example
  client_secret_env: TEST_OIDC_SECRET
http:
  listen: 127.0.0.1:8080
  public_url: https://ldapgate.example.com
`

func TestAuthConfig(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	t.Setenv("TEST_OIDC_SECRET", "oidc-secret")
	cfg, err := ParseConfig("cfg.yaml", []byte(minimal+authPart))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := cfg.OIDCClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	services, err := cfg.AppPasswordServices()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"binds": cfg.Binds, "ttl": cfg.CacheTTL(), "issuer": cfg.OIDC.Issuer, "domains": cfg.OIDC.AllowedDomains,
		"secret": secret, "session": cfg.HTTP.SessionTTL.D(), "services": len(services["archive"]),
		"host": services["archive"][1].String(),
	}
	want := map[string]any{
		"binds": []string{"app_password", "id_token"}, "ttl": 30 * time.Second, "issuer": GoogleIssuer,
		"domains": []string{"example.com"}, "secret": "oidc-secret", "session": DefaultSessionTTL, "services": 2,
		"host": "192.0.2.7/32",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("config (-got +want):\n%s", diff)
	}

	// Without the auth section: no user binds, the default cache TTL.
	cfg, err = ParseConfig("cfg.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Binds) != 0 || cfg.CacheTTL() != DefaultBindCacheTTL {
		t.Errorf("defaults: binds %v, cache %s", cfg.Binds, cfg.CacheTTL())
	}
}

func TestAuthConfigErrors(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	t.Setenv("TEST_OIDC_SECRET", "oidc-secret")
	tests := []struct {
		name    string
		replace [2]string
		want    []string
	}{
		{"password grant with Google", [2]string{"binds: [app_password, id_token]", "binds: [password_grant]"},
			[]string{"binds[0]: password_grant does not work with Google", "unsupported_grant_type"}},
		{"unknown method", [2]string{"binds: [app_password, id_token]", "binds: [app_pasword]"}, []string{"binds[0]: expected one of app_password, id_token"}},
		{"listed twice", [2]string{"binds: [app_password, id_token]", "binds: [app_password, app_password]"}, []string{"listed twice"}},
		{"cache too long", [2]string{"bind_cache_ttl: 30s", "bind_cache_ttl: 5h"}, []string{"bind_cache_ttl:", "1h"}},
		{"bad network", [2]string{"192.0.2.7", "archive.example.com"}, []string{"app_passwords.services.archive", "expected a network"}},
		{"secret in the YAML", [2]string{"client_secret_env: TEST_OIDC_SECRET", "client_secret: hunter2"},
			[]string{`unknown key "client_secret" in oidc`, "client_secret_file, client_secret_env"}},
		{"secret env unset", [2]string{"TEST_OIDC_SECRET", "TEST_NOT_SET_ANYWHERE"}, []string{"TEST_NOT_SET_ANYWHERE is not set"}},
		{"no client id", [2]string{"  client_id: 1234.apps.example\n", ""}, []string{"oidc.client_id: required"}},
		{"http issuer", [2]string{"  client_id:", "  issuer: http://accounts.example.com\n  client_id:"}, []string{"oidc.issuer: expected an https URL"}},
		{"no public url", [2]string{"  public_url: https://ldapgate.example.com\n", ""}, []string{"http.public_url: required"}},
		{"plain http public url", [2]string{"https://ldapgate.example.com", "http://ldapgate.example.com"}, []string{"http.public_url: must be https"}},
		{"bad http listen", [2]string{"listen: 127.0.0.1:8080", "listen: 8080"}, []string{"http.listen: expected host:port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := minimal + authPart
			text := strings.Replace(full, tt.replace[0], tt.replace[1], 1)
			if text == full {
				t.Fatalf("replacement %q not found", tt.replace[0])
			}
			_, err := ParseConfig("cfg.yaml", []byte(text))
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig = %v, want ConfigErrors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "oidc-secret") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

func TestPasswordGrantConfig(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	t.Setenv("TEST_OIDC_SECRET", "oidc-secret")
	keycloak := minimal + `binds: [password_grant]
oidc:
  issuer: https://sso.example.com/realms/staff
  client_id: ldapgate
`
	if _, err := ParseConfig("cfg.yaml", []byte(keycloak)); err == nil || !strings.Contains(err.Error(), "password_grant needs the OIDC client secret") {
		t.Errorf("without a secret: %v", err)
	}
	cfg, err := ParseConfig("cfg.yaml", []byte(keycloak+"  client_secret_env: TEST_OIDC_SECRET\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.OIDC.AllowedDomains) != 0 {
		t.Errorf("allowed domains %v for a provider that is not Google, want none by default", cfg.OIDC.AllowedDomains)
	}
}

func TestUpstreamLDAPConfig(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	for _, tt := range []struct {
		name, part string
		want       string // "" = valid
	}{
		{"valid", "binds: [upstream_ldap]\nupstream_ldap:\n  url: ldaps://ldap.example.com:636\n  bind_dn: uid={local},ou=Users,dc=example,dc=com\n", ""},
		{"no url", "binds: [upstream_ldap]\nupstream_ldap:\n  bind_dn: uid={local},ou=Users,dc=example,dc=com\n", "upstream_ldap.url: required"},
		{"plain ldap", "binds: [upstream_ldap]\nupstream_ldap:\n  url: ldap://ldap.example.com\n  bind_dn: uid={uid},dc=x\n", "expected ldaps://"},
		{"no placeholder", "binds: [upstream_ldap]\nupstream_ldap:\n  url: ldaps://ldap.example.com\n  bind_dn: uid=alice,dc=x\n", "upstream_ldap.bind_dn"},
		{"cert without key", "binds: [upstream_ldap]\nupstream_ldap:\n  url: ldaps://ldap.example.com\n  bind_dn: uid={uid},dc=x\n  client_cert_file: c.pem\n", "go together"},
		{"missing cert", "binds: [upstream_ldap]\nupstream_ldap:\n  url: ldaps://ldap.example.com\n  bind_dn: uid={uid},dc=x\n  client_cert_file: /nonexistent/c.pem\n  client_key_file: /nonexistent/k.pem\n", "client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("cfg.yaml", []byte(minimal+tt.part))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ParseConfig: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ParseConfig = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
