package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/bindproxy"
)

// Defaults of the bind chain and the portal.
const (
	DefaultBindCacheTTL = 2 * time.Minute
	DefaultSessionTTL   = 8 * time.Hour
	GoogleIssuer        = "https://accounts.google.com"
)

// AppPasswordsConfig configures app passwords.
type AppPasswordsConfig struct {
	// Services maps each service an app password may be bound to onto the
	// client networks (CIDRs or addresses) that service binds from; an app
	// password bound to a service works only from those.
	Services map[string][]string `yaml:"services"`
}

// OIDCConfig is the OpenID Connect provider users sign in with (the
// portal) and whose ID tokens the id_token bind method accepts.
type OIDCConfig struct {
	Issuer   string `yaml:"issuer"` // default https://accounts.google.com
	ClientID string `yaml:"client_id"`
	// The client secret comes from a file or an environment variable only.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// AllowedDomains are the accepted hosted domains (hd claim); default
	// with Google: the config's domain, so Google accounts outside it never
	// sign in. Other providers usually send no hd: leave it empty.
	AllowedDomains []string `yaml:"allowed_domains"`
}

// HTTPConfig configures the web portal.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // "" = no portal
	// PublicURL is the portal's address as browsers see it
	// (https://ldapgate.example.com); the OIDC redirect URL is
	// PublicURL + "/auth/callback". Cookies are Secure when it is https.
	PublicURL  string    `yaml:"public_url"`
	TLS        TLSConfig `yaml:"tls"` // serve HTTPS directly
	SessionTTL Duration  `yaml:"session_ttl"`
}

// UpstreamLDAPConfig is the upstream directory of the upstream_ldap bind
// method, e.g. Google's Secure LDAP service.
type UpstreamLDAPConfig struct {
	URL string `yaml:"url"` // ldaps://host:636
	// BindDN is the user's DN upstream with {uid}, {email} or {local}.
	BindDN         string   `yaml:"bind_dn"`
	ClientCertFile string   `yaml:"client_cert_file"`
	ClientKeyFile  string   `yaml:"client_key_file"`
	CAFile         string   `yaml:"ca_file"`   // default: the system's roots
	MaxConns       int      `yaml:"max_conns"` // default 4
	Rate           float64  `yaml:"rate"`      // binds per second, default 4
	Timeout        Duration `yaml:"timeout"`   // default 10s
}

// UpstreamTLS loads the upstream's client certificate and trusted roots.
func (c *Config) UpstreamTLS() (*tls.Config, error) {
	u := c.UpstreamLDAP
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.resolve(u.ClientCertFile), c.resolve(u.ClientKeyFile))
		if err != nil {
			return nil, fmt.Errorf("upstream_ldap client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if u.CAFile != "" {
		pem, err := os.ReadFile(c.resolve(u.CAFile))
		if err != nil {
			return nil, fmt.Errorf("upstream_ldap.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("upstream_ldap.ca_file: no PEM certificates")
		}
	}
	return t, nil
}

// CacheTTL is how long a verified bind is cached (0: not cached).
func (c *Config) CacheTTL() time.Duration {
	if c.BindCacheTTL == nil {
		return DefaultBindCacheTTL
	}
	return c.BindCacheTTL.D()
}

// HasBind reports whether the bind chain includes method.
func (c *Config) HasBind(method string) bool { return slices.Contains(c.Binds, method) }

// OIDCClientSecret reads the OIDC client secret from its file or
// environment variable. The error never contains the secret.
func (c *Config) OIDCClientSecret() (string, error) {
	o := c.OIDC
	switch {
	case o.ClientSecretFile != "":
		b, err := os.ReadFile(c.resolve(o.ClientSecretFile))
		if err != nil {
			return "", fmt.Errorf("oidc.client_secret_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case o.ClientSecretEnv != "":
		v, ok := os.LookupEnv(o.ClientSecretEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("oidc.client_secret_env: environment variable %s is not set", o.ClientSecretEnv)
		}
		return strings.TrimSpace(v), nil
	}
	return "", fmt.Errorf("oidc: no client secret: set client_secret_file or client_secret_env")
}

// AppPasswordServices returns app_passwords.services parsed.
func (c *Config) AppPasswordServices() (map[string][]netip.Prefix, error) {
	out := make(map[string][]netip.Prefix, len(c.AppPasswords.Services))
	for name, nets := range c.AppPasswords.Services {
		for _, n := range nets {
			p, err := parsePrefix(n)
			if err != nil {
				return nil, fmt.Errorf("app_passwords.services.%s: %w", name, err)
			}
			out[name] = append(out[name], p)
		}
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("expected a network such as 10.0.0.0/24 or an address, got %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("expected a network such as 10.0.0.0/24 or an address, got %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// validateAuth applies the defaults of the bind chain, OIDC and portal
// settings and checks them.
func (c *Config) validateAuth(root *yaml.Node) ConfigErrors {
	if c.OIDC.Issuer == "" {
		c.OIDC.Issuer = GoogleIssuer
	}
	if len(c.OIDC.AllowedDomains) == 0 && c.Domain != "" && strings.TrimSuffix(c.OIDC.Issuer, "/") == GoogleIssuer {
		c.OIDC.AllowedDomains = []string{strings.ToLower(c.Domain)}
	}
	if c.HTTP.SessionTTL == 0 {
		c.HTTP.SessionTTL = Duration(DefaultSessionTTL)
	}
	var errs ConfigErrors
	bad := func(key string, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	seen := make(map[string]bool)
	for i, b := range c.Binds {
		key := fmt.Sprintf("binds[%d]", i)
		switch b {
		case bindproxy.MethodAppPassword, bindproxy.MethodIDToken:
		case bindproxy.MethodPasswordGrant:
			if strings.TrimSuffix(c.OIDC.Issuer, "/") == GoogleIssuer {
				bad(key, "password_grant does not work with Google: Google answers unsupported_grant_type (use app_password or id_token)")
			} else if _, err := c.OIDCClientSecret(); err != nil {
				bad(key, "password_grant needs the OIDC client secret: %v", err)
			}
		case bindproxy.MethodUpstreamLDAP:
			u := c.UpstreamLDAP
			pu, err := url.Parse(u.URL)
			switch {
			case u.URL == "":
				bad("upstream_ldap.url", "required with the upstream_ldap bind method, e.g. ldaps://ldap.google.com:636")
			case err != nil || pu.Host == "" || (pu.Scheme != "ldaps" && !(pu.Scheme == "ldap" && isLoopbackHost(pu.Hostname()))):
				bad("upstream_ldap.url", "expected ldaps://host:port (ldap:// only on localhost), got %q", u.URL)
			}
			if !strings.Contains(u.BindDN, "{uid}") && !strings.Contains(u.BindDN, "{email}") && !strings.Contains(u.BindDN, "{local}") {
				bad("upstream_ldap.bind_dn", "expected a DN with {uid}, {email} or {local}, e.g. uid={local},ou=Users,dc=example,dc=com")
			}
			if (u.ClientCertFile == "") != (u.ClientKeyFile == "") {
				bad("upstream_ldap", "client_cert_file and client_key_file go together")
			} else if _, err := c.UpstreamTLS(); err != nil {
				bad("upstream_ldap", "%v", err)
			}
			if u.MaxConns < 0 || u.Rate < 0 || u.Timeout < 0 {
				bad("upstream_ldap", "max_conns, rate and timeout must not be negative")
			}
		default:
			bad(key, "expected one of app_password, id_token, password_grant, upstream_ldap, got %q", b)
		}
		if seen[b] {
			bad(key, "%s is listed twice", b)
		}
		seen[b] = true
	}
	if c.CacheTTL() < 0 || c.CacheTTL() > time.Hour {
		bad("bind_cache_ttl", "expected a duration from 0 (no cache) to 1h, got %s", c.CacheTTL())
	}
	for name, nets := range c.AppPasswords.Services {
		if !validName(name) {
			bad("app_passwords.services", "expected service names of letters, digits, '.', '-' and '_', got %q", name)
		}
		if len(nets) == 0 {
			bad("app_passwords.services."+name, "expected at least one network")
		}
		for _, n := range nets {
			if _, err := parsePrefix(n); err != nil {
				bad("app_passwords.services."+name, "%v", err)
			}
		}
	}
	needOIDC := c.HasBind(bindproxy.MethodIDToken) || c.HasBind(bindproxy.MethodPasswordGrant) || c.HTTP.Listen != ""
	if needOIDC {
		u, err := url.Parse(c.OIDC.Issuer)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !isLoopbackHost(u.Hostname())) {
			bad("oidc.issuer", "expected an https URL such as %s, got %q", GoogleIssuer, c.OIDC.Issuer)
		}
		if c.OIDC.ClientID == "" {
			bad("oidc.client_id", "required with the id_token bind method or the web portal: the OAuth client id")
		}
		for i, d := range c.OIDC.AllowedDomains {
			if strings.ContainsAny(d, "@ /") || !strings.Contains(d, ".") {
				bad(fmt.Sprintf("oidc.allowed_domains[%d]", i), "expected a domain such as example.com, got %q", d)
			}
		}
	}
	if c.OIDC.ClientSecretFile != "" && c.OIDC.ClientSecretEnv != "" {
		bad("oidc", "expected at most one of client_secret_file and client_secret_env")
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "expected host:port such as 127.0.0.1:8080, got %q", c.HTTP.Listen)
		}
		u, err := url.Parse(c.HTTP.PublicURL)
		switch {
		case c.HTTP.PublicURL == "":
			bad("http.public_url", "required with http.listen: the portal's address as browsers see it, e.g. https://ldapgate.example.com")
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("http.public_url", "expected an http(s) URL, got %q", c.HTTP.PublicURL)
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			bad("http.public_url", "must be https (sign-in cookies are Secure); plain http only for localhost, got %q", c.HTTP.PublicURL)
		}
		if _, err := c.OIDCClientSecret(); err != nil {
			bad("oidc", "the web portal needs the client secret: %v", err)
		}
		if (c.HTTP.TLS.CertFile == "") != (c.HTTP.TLS.KeyFile == "") {
			bad("http.tls", "cert_file and key_file go together")
		}
		if c.HTTP.SessionTTL.D() < time.Minute {
			bad("http.session_ttl", "must be at least 1m, got %s", c.HTTP.SessionTTL.D())
		}
	}
	return errs
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
