package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/directory"
)

// MetricsConfig configures /metrics, /healthz and /readyz. They are served
// on the web portal's listener (http.listen) when there is one, and on
// metrics.listen when that is set (both, if both are).
type MetricsConfig struct {
	// Listen is a separate listener for /metrics, /healthz and /readyz
	// only (no portal, no admin page), e.g. for a Prometheus that must not
	// reach the portal; "" = none.
	Listen string `yaml:"listen"`
	// ReadyMaxAge: /readyz fails when the last successful sync is older
	// (default: 2 × sync.interval + sync.timeout).
	ReadyMaxAge Duration `yaml:"ready_max_age"`
}

// AdminConfig says who may use the admin page (/admin): users signed in to
// the portal whose primary address is in Emails, or who are members
// (nested memberships included) of one of Groups.
type AdminConfig struct {
	Emails []string `yaml:"emails"`
	Groups []string `yaml:"groups"`
}

// BindLimitConfig throttles failed LDAP binds (ldap.bind_limit; see
// directory.BindLimit): within window, per_name failures for one name
// from one address, per_name_total for one name from anywhere, or
// per_address distinct names failing from one address (not in
// trusted_networks) block further binds for backoff.
type BindLimitConfig struct {
	PerName         int      `yaml:"per_name"`         // default 5; -1 = no limit
	PerNameTotal    int      `yaml:"per_name_total"`   // default 20; -1 = no limit
	PerAddress      int      `yaml:"per_address"`      // default 50; -1 = no limit
	Window          Duration `yaml:"window"`           // default 5m
	Backoff         Duration `yaml:"backoff"`          // default 5m
	TrustedNetworks []string `yaml:"trusted_networks"` // CIDRs of relays (the archive server)
	FailureDelay    Duration `yaml:"failure_delay"`    // default 500ms; negative = none
}

// LDAPBindLimit is ldap.bind_limit for the LDAP server. Its networks were
// checked by validation; one that does not parse is left out.
func (c *Config) LDAPBindLimit() directory.BindLimit {
	b := c.LDAP.BindLimit
	nets := make([]netip.Prefix, 0, len(b.TrustedNetworks))
	for _, n := range b.TrustedNetworks {
		if p, err := parsePrefix(n); err == nil {
			nets = append(nets, p)
		}
	}
	return directory.BindLimit{PerName: b.PerName, PerNameTotal: b.PerNameTotal, PerAddress: b.PerAddress,
		Window: b.Window.D(), Backoff: b.Backoff.D(), TrustedNetworks: nets, FailureDelay: b.FailureDelay.D()}
}

// ReadyMaxAge is metrics.ready_max_age with its default.
func (c *Config) ReadyMaxAge() time.Duration {
	if c.Metrics.ReadyMaxAge > 0 {
		return c.Metrics.ReadyMaxAge.D()
	}
	return 2*c.Sync.Interval.D() + c.Sync.Timeout.D()
}

// IsAdminEmail reports whether email is one of admin.emails.
func (c *Config) IsAdminEmail(email string) bool {
	for _, e := range c.Admin.Emails {
		if strings.EqualFold(e, email) {
			return true
		}
	}
	return false
}

func (c *Config) validateOps(root *yaml.Node) ConfigErrors {
	var errs ConfigErrors
	bad := func(key string, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			bad("metrics.listen", "expected host:port such as 127.0.0.1:9389, got %q", l)
		}
	}
	if c.Metrics.ReadyMaxAge < 0 {
		bad("metrics.ready_max_age", "must not be negative")
	}
	for i, e := range c.Admin.Emails {
		if !strings.Contains(e, "@") {
			bad(fmt.Sprintf("admin.emails[%d]", i), "expected an email address, got %q", e)
		}
	}
	for i, g := range c.Admin.Groups {
		if !strings.Contains(g, "@") {
			bad(fmt.Sprintf("admin.groups[%d]", i), "expected a group email address, got %q", g)
		}
	}
	if (len(c.Admin.Emails) > 0 || len(c.Admin.Groups) > 0) && c.HTTP.Listen == "" {
		bad("admin", "the admin page is part of the web portal: set http.listen")
	}
	b := c.LDAP.BindLimit
	if b.PerName < -1 {
		bad("ldap.bind_limit.per_name", "expected a number of failures, or -1 for no limit, got %d", b.PerName)
	}
	if b.PerNameTotal < -1 {
		bad("ldap.bind_limit.per_name_total", "expected a number of failures, or -1 for no limit, got %d", b.PerNameTotal)
	}
	if b.PerAddress < -1 {
		bad("ldap.bind_limit.per_address", "expected a number of names, or -1 for no limit, got %d", b.PerAddress)
	}
	for i, n := range b.TrustedNetworks {
		if _, err := parsePrefix(n); err != nil {
			bad(fmt.Sprintf("ldap.bind_limit.trusted_networks[%d]", i), "%v", err)
		}
	}
	if b.FailureDelay > Duration(time.Minute) {
		bad("ldap.bind_limit.failure_delay", "expected a duration up to 1m (e.g. 500ms), or a negative one (-1s) for none")
	}
	if b.Window < 0 || b.Backoff < 0 {
		bad("ldap.bind_limit", "window and backoff must not be negative")
	}
	l := c.LDAP
	if l.MaxConnections < -1 {
		bad("ldap.max_connections", "expected a number of connections, or -1 for no limit, got %d", l.MaxConnections)
	}
	if l.MaxConnectionsPerAddress < -1 {
		bad("ldap.max_connections_per_address", "expected a number of connections, or -1 for no limit, got %d", l.MaxConnectionsPerAddress)
	} else if l.MaxConnectionsPerAddress > 0 && l.MaxConnections > 0 && l.MaxConnectionsPerAddress > l.MaxConnections {
		bad("ldap.max_connections_per_address", "must not exceed ldap.max_connections (%d), got %d", l.MaxConnections, l.MaxConnectionsPerAddress)
	}
	if l.IdleTimeout < 0 {
		bad("ldap.idle_timeout", "must not be negative")
	}
	if l.FirstBindTimeout < 0 {
		bad("ldap.first_bind_timeout", "must not be negative")
	}
	return errs
}
