package ldapserver

import (
	"strings"
	"testing"
)

// TestConfigNeedsTLS: what needs TLS is refused without it, with the
// directory's own checks still made.
func TestConfigNeedsTLS(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string // "" means valid
	}{
		"plain":                  {func(*Config) {}, ""},
		"ldaps":                  {func(c *Config) { c.LDAPS = true }, "ldaps requires a TLS configuration"},
		"require tls":            {func(c *Config) { c.RequireTLS = true }, "require TLS needs a TLS configuration"},
		"client cert":            {func(c *Config) { c.Directory.ServiceAccounts[0].ClientCertSHA256 = fp }, "a client certificate needs a TLS configuration"},
		"client cert with tls":   {func(c *Config) { c.Directory.ServiceAccounts[0].ClientCertSHA256, c.TLS = fp, testTLS(t).server }, ""},
		"directory's own checks": {func(c *Config) { c.Directory.BaseDN = "example.com" }, "not a DN"},
	} {
		c := testConfig(t)
		tc.mod(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
