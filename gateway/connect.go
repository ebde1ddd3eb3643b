package gateway

import (
	"os"

	"github.com/ldapgate/ldapgate/connect"
)

// ConnectSettings are the parts of c that clients' settings depend on
// (ldapgate clients, the admin page's Connect page). When ldapgate listens
// on every address, clients are told this machine's name.
func (c *Config) ConnectSettings() connect.Settings {
	s := connect.Settings{
		BaseDN:          c.LDAP.BaseDN,
		Listen:          c.LDAP.Listen,
		LDAPSListen:     c.LDAP.LDAPSListen,
		TLS:             c.LDAP.TLS.CertFile != "",
		RequireTLS:      c.LDAP.RequireTLS,
		POSIX:           c.LDAP.POSIX.Enabled,
		ActiveDirectory: c.LDAP.ActiveDirectory,
		Binds:           c.Binds,
		Privileges:      c.Privileges(),
		PortalURL:       c.HTTP.PublicURL,
	}
	for _, sa := range c.ServiceAccounts {
		s.ServiceAccounts = append(s.ServiceAccounts, sa.Name)
	}
	if s.ListensEverywhere() {
		s.Host, _ = os.Hostname()
	}
	return s
}
