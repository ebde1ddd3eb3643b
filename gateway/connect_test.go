package gateway

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/connect"
)

func TestConnectSettings(t *testing.T) {
	cfg := &Config{
		LDAP: LDAPConfig{Listen: "192.0.2.1:389", LDAPSListen: "192.0.2.1:636", BaseDN: "dc=example,dc=com",
			TLS: TLSConfig{CertFile: "cert.pem", KeyFile: "key.pem"}, RequireTLS: true,
			POSIX: POSIXConfig{Enabled: true}, ActiveDirectory: true},
		ServiceAccounts: []ServiceAccount{{Name: "archive"}, {Name: "nextcloud"}},
		Binds:           []string{"app_password", "upstream_ldap"},
		HTTP:            HTTPConfig{PublicURL: "https://ldapgate.example.com"},
		Sync:            SyncConfig{DefaultPrivileges: []string{"login"}, PrivilegeRules: []PrivilegeRule{{Group: "a@example.com", Privileges: []string{"admin"}}}},
	}
	want := connect.Settings{
		BaseDN: "dc=example,dc=com", Listen: "192.0.2.1:389", LDAPSListen: "192.0.2.1:636", TLS: true, RequireTLS: true,
		ServiceAccounts: []string{"archive", "nextcloud"}, POSIX: true, ActiveDirectory: true,
		Binds: []string{"app_password", "upstream_ldap"}, Privileges: []string{"admin", "login"},
		PortalURL: "https://ldapgate.example.com",
	}
	if diff := cmp.Diff(cfg.ConnectSettings(), want); diff != "" {
		t.Errorf("ConnectSettings (-got +want):\n%s", diff)
	}

	// On every address, clients are told this machine's name.
	cfg.LDAP.LDAPSListen, cfg.LDAP.Listen = "", "0.0.0.0:389"
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	if got := cfg.ConnectSettings().Host; got != host {
		t.Errorf("Host with ldap.listen 0.0.0.0:389 = %q, want this machine's name %q", got, host)
	}
	// Without TLS the LDAPS address is not the clients' one.
	cfg.LDAP.TLS, cfg.LDAP.LDAPSListen, cfg.LDAP.Listen = TLSConfig{}, "0.0.0.0:636", "192.0.2.1:389"
	if got := cfg.ConnectSettings().Host; got != "" {
		t.Errorf("Host with ldap.listen 192.0.2.1:389 = %q, want \"\" (the listen address's)", got)
	}
}
